/**
 * KServe / Triton Open Inference Protocol v2 (REST), as specified at
 * github.com/kserve/open-inference-protocol: health, server and model
 * metadata, and inference with
 * - an `FP32` input `[N, 3, S, S]` (already preprocessed), or a `BYTES` input
 *   of encoded images (base64 strings in JSON, length-prefixed in binary);
 * - the binary tensor data extension (`Inference-Header-Content-Length`), both
 *   ways;
 * - the classification extension: `parameters.classification: k` on an output
 *   (or on the request) returns `"score:index:label"` strings, with softmax
 *   probabilities as scores.
 * Errors are `{"error": "…"}` (plus our `code`) with a 4xx status.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ClassificationService } from '../../classify/service.js';
import { ResnetServeError } from '../../errors.js';
import { ORT_VERSION } from '../../model/session.js';
import { withDeadline, type ServiceHolder } from '../http.js';
import type { ServerLimits } from '../options.js';

type Params = { name: string; version?: string };

interface TensorIn {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown;
}

interface OutputRequest {
  name: string;
  parameters?: { classification?: number; binary_data?: boolean } & Record<string, unknown>;
}

interface InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: TensorIn[];
  outputs?: OutputRequest[];
}

interface TensorOut {
  name: string;
  datatype: 'FP32' | 'BYTES';
  shape: number[];
  data?: number[] | string[];
  parameters?: { binary_data_size: number };
}

function bad(message: string): ResnetServeError {
  return new ResnetServeError('BAD_REQUEST', message);
}

function flatten(data: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(data)) for (const d of data) flatten(d, out);
  else out.push(data);
  return out;
}

/** Splits a binary-extension body into the JSON header and the tensor bytes that follow it. */
function parseBody(request: FastifyRequest): { header: InferRequest; binary: Buffer } {
  const body = request.body;
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : '');
  const lengthHeader = request.headers['inference-header-content-length'];
  const jsonLength = lengthHeader === undefined ? raw.length : Number(lengthHeader);
  if (!Number.isInteger(jsonLength) || jsonLength < 0 || jsonLength > raw.length) {
    throw bad(`Inference-Header-Content-Length ${String(lengthHeader)} does not fit a body of ${raw.length} bytes`);
  }
  let header: InferRequest;
  try {
    header = JSON.parse(raw.subarray(0, jsonLength).toString('utf8'));
  } catch {
    throw bad('The inference request is not valid JSON');
  }
  if (!header || typeof header !== 'object' || !Array.isArray(header.inputs) || header.inputs.length === 0) {
    throw bad('The inference request needs an "inputs" array with one tensor');
  }
  return { header, binary: raw.subarray(jsonLength) };
}

/** Reads the images (BYTES) or the preprocessed tensor (FP32) of the single input. */
function readInput(input: TensorIn, binary: Buffer, size: number, maxBatch: number): { kind: 'images'; images: Buffer[] } | { kind: 'tensor'; data: Float32Array; batch: number } {
  if (!input || typeof input !== 'object' || !Array.isArray(input.shape) || !input.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw bad('Each input needs "name", "shape" (non-negative integers) and "datatype"');
  }
  const binarySize = input.parameters?.binary_data_size;
  if (binarySize !== undefined && (!Number.isInteger(binarySize) || (binarySize as number) > binary.length)) {
    throw bad(`Input ${input.name}: binary_data_size ${String(binarySize)} exceeds the ${binary.length} bytes sent`);
  }
  const blob = binarySize === undefined ? null : binary.subarray(0, binarySize as number);
  if (input.datatype === 'FP32') {
    const [n, c, h, w] = input.shape;
    if (input.shape.length !== 4 || c !== 3 || h !== size || w !== size || n < 1) {
      throw bad(`Input ${input.name} must have shape [N, 3, ${size}, ${size}]; got [${input.shape.join(', ')}]`);
    }
    if (n > maxBatch) throw new ResnetServeError('TOO_MANY_FILES', `At most ${maxBatch} images per request`);
    const count = n * 3 * size * size;
    let data: Float32Array;
    if (blob) {
      if (blob.length !== count * 4) throw bad(`Input ${input.name}: expected ${count * 4} bytes of FP32 data, got ${blob.length}`);
      data = new Float32Array(count);
      new Uint8Array(data.buffer).set(blob);
    } else {
      const flat = flatten(input.data);
      if (flat.length !== count) throw bad(`Input ${input.name}: shape [${input.shape.join(', ')}] needs ${count} values, got ${flat.length}`);
      if (!flat.every((v) => typeof v === 'number' && Number.isFinite(v))) throw bad(`Input ${input.name}: FP32 data must be finite numbers`);
      data = Float32Array.from(flat as number[]);
    }
    return { kind: 'tensor', data, batch: n };
  }
  if (input.datatype === 'BYTES') {
    const n = input.shape[0];
    if (!(input.shape.length === 1 || (input.shape.length === 2 && input.shape[1] === 1)) || n < 1) {
      throw bad(`Input ${input.name}: BYTES images need shape [N] or [N, 1]; got [${input.shape.join(', ')}]`);
    }
    if (n > maxBatch) throw new ResnetServeError('TOO_MANY_FILES', `At most ${maxBatch} images per request`);
    const images: Buffer[] = [];
    if (blob) {
      let pos = 0;
      while (pos + 4 <= blob.length) {
        const len = blob.readUInt32LE(pos);
        if (pos + 4 + len > blob.length) throw bad(`Input ${input.name}: a BYTES element runs past the data`);
        images.push(blob.subarray(pos + 4, pos + 4 + len));
        pos += 4 + len;
      }
    } else {
      for (const v of flatten(input.data)) {
        const text = typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { b64?: unknown }).b64 === 'string' ? (v as { b64: string }).b64 : null;
        if (text === null) throw bad(`Input ${input.name}: BYTES elements must be base64 strings`);
        images.push(Buffer.from(text, 'base64'));
      }
    }
    if (images.length !== n) throw bad(`Input ${input.name}: shape says ${n} images, ${images.length} were sent`);
    return { kind: 'images', images };
  }
  throw bad(`Input ${input.name}: datatype ${String(input.datatype)} is not supported (use FP32 or BYTES)`);
}

function encodeBytes(strings: string[]): Buffer {
  return Buffer.concat(strings.flatMap((s) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return [len, b];
  }));
}

function modelMetadata(service: ClassificationService): object {
  const { info } = service;
  const s = info.inputSize;
  return {
    name: info.name,
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [
      { name: service.model.session.inputName, datatype: 'FP32', shape: [-1, 3, s, s] },
      { name: 'image', datatype: 'BYTES', shape: [-1] },
    ],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, info.numClasses] }],
    parameters: { sha256: info.sha256, source: info.source, onnxruntime: ORT_VERSION, onnxruntime_threads: info.threads, preprocess_workers: service.workers, max_batch: service.batcher.maxBatch },
  };
}

export function kserveRoutes(app: FastifyInstance, holder: ServiceHolder, limits: ServerLimits, serverVersion: string): void {
  const model = (params: Params): ClassificationService => {
    const service = holder.require();
    if (params.name !== service.info.name) throw new ResnetServeError('NOT_FOUND', `Unknown model ${params.name}; this server serves ${service.info.name}`);
    if (params.version !== undefined && params.version !== '1') throw new ResnetServeError('NOT_FOUND', `Unknown version ${params.version} of model ${params.name}; the only version is 1`);
    return service;
  };

  app.get('/v2', async () => ({ name: 'resnet-serve', version: serverVersion, extensions: ['binary_tensor_data', 'classification'] }));
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_request, reply) => reply.code(holder.ready ? 200 : 503).send({ ready: holder.ready }));

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get<{ Params: Params }>(prefix, async (request) => modelMetadata(model(request.params)));
    app.get<{ Params: Params }>(`${prefix}/ready`, async (request) => {
      const service = model(request.params);
      return { name: service.info.name, ready: holder.ready };
    });
    app.post<{ Params: Params }>(`${prefix}/infer`, async (request, reply) => infer(request, reply, model(request.params)));
  }

  async function infer(request: FastifyRequest, reply: FastifyReply, service: ClassificationService): Promise<unknown> {
    const { header, binary } = parseBody(request);
    if (header.inputs.length !== 1) throw bad(`The model takes one input; ${header.inputs.length} were sent`);
    if (header.id !== undefined && typeof header.id !== 'string') throw bad('"id" must be a string');
    const input = readInput(header.inputs[0], binary, service.info.inputSize, limits.maxFiles);
    const classes = service.info.numClasses;
    const release = service.admit(input.kind === 'tensor' ? input.batch : input.images.length);
    const logits = await withDeadline(reply, limits.requestTimeoutMs, async (signal) => {
      if (input.kind === 'tensor') {
        const per = 3 * service.info.inputSize ** 2;
        const rows = await Promise.all(Array.from({ length: input.batch }, (_, i) => service.infer(input.data.subarray(i * per, (i + 1) * per), signal)));
        return rows;
      }
      return Promise.all(input.images.map(async (bytes) => service.infer((await service.preprocess(bytes, signal)).tensor, signal)));
    }).finally(release);
    const n = logits.length;
    const requested: OutputRequest[] = Array.isArray(header.outputs) && header.outputs.length ? header.outputs : [{ name: 'logits', parameters: {} }];
    const requestK = header.parameters?.classification;
    const allBinary = header.parameters?.binary_data_output === true;
    const outputs: TensorOut[] = [];
    const tails: Buffer[] = [];
    for (const out of requested) {
      if (!out || out.name !== 'logits') throw bad(`Unknown output ${String(out?.name)}; the model has one output, "logits"`);
      const k = out.parameters?.classification ?? requestK;
      const binaryOut = out.parameters?.binary_data === true || allBinary;
      let tensor: TensorOut;
      let tail: Buffer;
      if (k !== undefined) {
        if (!Number.isInteger(k) || (k as number) < 1 || (k as number) > classes) throw bad(`classification must be an integer from 1 to ${classes}`);
        const strings = logits.flatMap((row) => service.rank(row, { topK: k as number, lang: 'en' }).map((p) => `${p.score.toFixed(6)}:${p.index}:${p.label}`));
        tensor = { name: 'logits', datatype: 'BYTES', shape: [n, k as number], data: strings };
        tail = encodeBytes(strings);
      } else {
        const flat = new Float32Array(n * classes);
        logits.forEach((row, i) => flat.set(row, i * classes));
        tensor = { name: 'logits', datatype: 'FP32', shape: [n, classes], data: Array.from(flat) };
        tail = Buffer.from(flat.buffer);
      }
      if (binaryOut) {
        delete tensor.data;
        tensor.parameters = { binary_data_size: tail.length };
        tails.push(tail);
      }
      outputs.push(tensor);
    }
    const response = { model_name: service.info.name, model_version: '1', ...(header.id !== undefined ? { id: header.id } : {}), outputs };
    if (tails.length === 0) return response;
    const json = Buffer.from(JSON.stringify(response));
    return reply
      .header('content-type', 'application/octet-stream')
      .header('inference-header-content-length', String(json.length))
      .send(Buffer.concat([json, ...tails]));
  }
}

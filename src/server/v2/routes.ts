/**
 * KServe / Triton Open Inference Protocol v2 (REST), as specified at
 * github.com/kserve/open-inference-protocol and as Triton's own client uses
 * it: health, server metadata, model metadata and configuration, and
 * inference with JSON or binary tensor data, gzip/deflate request bodies and
 * the classification extension (`parameters.classification: k` gives
 * `"value:index:label"` strings with the raw output value, as Triton does;
 * `classification_probabilities: true` gives softmax probabilities instead).
 * Errors are `{"error": "…"}` (plus our `code`) with a 4xx status.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ClassificationService } from '../../classify/service.js';
import { ResnetServeError } from '../../errors.js';
import { withDeadline, type ServiceHolder } from '../http.js';
import { exceededJsonBound, type JsonBounds } from '../json-bounds.js';
import type { ServerLimits } from '../options.js';
import { decodeRequest, encodeResponse, parseJson, splitBody, type DecodedRequest, type OutputRequest, type OutputTensor } from './codec.js';
import type { DecodeReply, DecodeTask } from './codec-child.js';
import { CodecProcess } from './codec-process.js';
import { headModel, modelConfig, modelMetadata, servedModels, type ServedModel } from './models.js';
import { topK } from '../../classify/postprocess.js';
import type { ExtraOutput } from '../../model/model-outputs.js';
import { sharedMemoryRoutes } from './shared-memory.js';
import { InferenceStatistics } from './stats.js';

type Params = { name: string; version?: string };

/**
 * JSON headers above this size, or built of more arrays, objects or strings
 * than a request of plain numbers or a few images has, are parsed in a child
 * process (`codec-process.ts`); the rest on the event loop.
 */
const CHILD_JSON_BYTES = 256 * 1024;
/** Tighter than any model's `jsonBounds`, so a header parsed on the event loop is counted once. */
const IN_LOOP_JSON: JsonBounds = { depth: 16, containers: 4096, strings: 4096 };
/** The body limit of the v2 routes other than inference. */
const SMALL_BODY_BYTES = 64 * 1024;

/** Whether a request's JSON header is parsed in the child process rather than on the event loop. */
export function parsesInChild(json: Uint8Array): boolean {
  return json.length > CHILD_JSON_BYTES || exceededJsonBound(json, IN_LOOP_JSON) !== null;
}

const modelsOf = new WeakMap<ClassificationService, Map<string, ServedModel>>();

/** The network's models and the trained heads' names, as served now. */
function offered(holder: ServiceHolder): { service: ClassificationService; models: Map<string, ServedModel>; trained: string[] } {
  const service = holder.require();
  let models = modelsOf.get(service);
  if (!models) modelsOf.set(service, (models = servedModels(service)));
  return { service, models, trained: holder.requireHeads().trainedNames() };
}

/**
 * Triton's model repository index (`POST /v2/repository/index`, what
 * `tritonclient`'s `get_model_repository_index()` asks): every model served,
 * all ready once the server is; `{"ready": true}` keeps only ready ones.
 * Loading and unloading are not offered: the models are fixed at start.
 */
function repositoryIndex(holder: ServiceHolder, body: unknown): { name: string; version: string; state: string }[] {
  let onlyReady = false;
  if (Buffer.isBuffer(body) && body.length) {
    let parsed: unknown;
    if (exceededJsonBound(body, { depth: 4, containers: 16, strings: 16 })) throw new ResnetServeError('BAD_REQUEST', 'The repository index request must be empty or a small JSON object such as {"ready": true}');
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new ResnetServeError('BAD_REQUEST', 'The repository index request must be empty or a JSON object such as {"ready": true}');
    }
    const ready = (parsed as { ready?: unknown } | null)?.ready;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || (ready !== undefined && typeof ready !== 'boolean')) {
      throw new ResnetServeError('BAD_REQUEST', `The repository index request must be a JSON object with an optional boolean "ready"; got ${body.toString('utf8').slice(0, 80)}`);
    }
    onlyReady = ready === true;
  }
  const { models, trained } = offered(holder);
  const state = holder.ready ? 'READY' : 'UNAVAILABLE';
  if (onlyReady && state !== 'READY') return [];
  return [...models.keys(), ...trained].map((name) => ({ name, version: '1', state }));
}

function lookup(holder: ServiceHolder, params: Params): { service: ClassificationService; model: ServedModel } {
  const { service, models, trained } = offered(holder);
  const heads = holder.requireHeads();
  // A head not trained yet (or made on another model) says so instead of "unknown model".
  const model = models.get(params.name) ?? (heads.has(params.name) ? headModel(heads.get(params.name)) : undefined);
  if (!model) throw new ResnetServeError('NOT_FOUND', `Unknown model '${params.name}'; this server serves ${[...models.keys(), ...trained].map((n) => `'${n}'`).join(', ')}`);
  if (params.version !== undefined && params.version !== '1') throw new ResnetServeError('NOT_FOUND', `Unknown version ${params.version} of model '${params.name}'; the only version is 1`);
  return { service, model };
}

async function decodeBody(request: FastifyRequest, reply: FastifyReply, codec: CodecProcess, holder: ServiceHolder, model: ServedModel, limits: ServerLimits): Promise<DecodedRequest> {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const headerLength = request.headers['inference-header-content-length'];
  const { json, binary } = splitBody(body, headerLength);
  const options = { maxBatch: limits.maxFiles, numClasses: holder.require().info.numClasses };
  if (!parsesInChild(json)) return decodeRequest(parseJson(json), binary, model.signature, options);
  const task: DecodeTask = { body, headerLength: Array.isArray(headerLength) ? headerLength[0] : headerLength, model: model.signature, ...options };
  const decoded: DecodeReply = await withDeadline(reply, limits.requestTimeoutMs, (signal) => codec.decode(task, signal), holder.shutdownSignal);
  if (!decoded.ok) throw new ResnetServeError(decoded.code, decoded.message);
  return decoded.request;
}

/** An image's failure, saying which element of a batch it was (counting from 0, as the protocol's tensors do). */
function inBatch(err: ResnetServeError, index: number, count: number): ResnetServeError {
  return count > 1 ? new ResnetServeError(err.code, `Element ${index} of the batch: ${err.message}`, { cause: err }) : err;
}

/** What one image gave: the scores the model's main output is made of, its embedding, and (heads) the verdict. */
interface ImageResult {
  /** The model's logits, or a head's probabilities. */
  scores: Float32Array;
  embedding?: Float32Array;
  /** Heads: the photo is none of the classes. */
  unknown?: boolean;
}

function stack(rows: Float32Array[]): { data: Float32Array; width: number } {
  const width = rows[0]?.length ?? 0;
  const data = new Float32Array(rows.length * width);
  rows.forEach((row, i) => data.set(row, i * width));
  return { data, width };
}

function outputTensor(out: OutputRequest, results: ImageResult[], service: ClassificationService, model: ServedModel): OutputTensor {
  const n = results.length;
  if (out.name === 'embedding') {
    const { data, width } = stack(results.map((r) => r.embedding as Float32Array));
    return { name: out.name, datatype: 'FP32', shape: [n, width], data };
  }
  if (out.name === 'unknown') return { name: out.name, datatype: 'BOOL', shape: [n, 1], data: results.map((r) => Boolean(r.unknown)) };
  const rows = results.map((r) => r.scores);
  if (out.classification === undefined) {
    const { data, width } = stack(rows);
    return { name: out.name, datatype: 'FP32', shape: [n, width], data };
  }
  const k = out.classification;
  const head = model.head;
  const strings = rows.flatMap((row) => {
    if (head) {
      // A head's output is already probabilities: the raw value and the probability agree.
      return topK(row, k).map((r) => `${r.score.toFixed(6)}:${r.index}:${head.classes[r.index]}`);
    }
    return service.rank(row, { topK: k, lang: 'en' }).map((p) => `${(out.probabilities ? p.score : row[p.index]).toFixed(6)}:${p.index}:${p.label}`);
  });
  return { name: out.name, datatype: 'BYTES', shape: [n, k], data: strings };
}

/** The model's answers for a decoded request, one per image of its batch. */
async function runModel(service: ClassificationService, model: ServedModel, decoded: DecodedRequest, reply: FastifyReply, holder: ServiceHolder, limits: ServerLimits): Promise<ImageResult[]> {
  const { input } = decoded;
  const extra: ExtraOutput[] = decoded.outputs.some((o) => o.name === 'embedding') ? ['embedding'] : [];
  return withDeadline(
    reply,
    limits.requestTimeoutMs,
    async (signal): Promise<ImageResult[]> => {
      if (input.kind === 'tensor') {
        const release = service.admit(input.batch);
        try {
          const per = input.data.length / input.batch;
          return await Promise.all(
            Array.from({ length: input.batch }, async (_, i) => {
              const outputs = await service.infer(input.data.subarray(i * per, (i + 1) * per), signal, extra);
              return { scores: outputs.logits.data, embedding: outputs.embedding?.data };
            }),
          );
        } finally {
          release();
        }
      }
      const images = input.images.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      if (model.head) {
        const head = model.head;
        const outcomes = await service.classifyMany(images, { topK: head.classes.length, head }, signal, { whenFull: 'refuse' });
        return outcomes.map((o, i) => {
          if (!o.ok) throw inBatch(o.error, i, images.length);
          const scores = new Float32Array(head.classes.length);
          for (const p of o.predictions) scores[p.index] = p.score;
          return { scores, unknown: o.unknown };
        });
      }
      const analyzed = await service.analyzeMany(images, extra, signal, { whenFull: 'refuse' });
      return analyzed.map((a, i) => {
        if (!a.ok) throw inBatch(a.error, i, images.length);
        return { scores: a.outputs.logits.data, embedding: a.outputs.embedding?.data };
      });
    },
    holder.shutdownSignal,
  );
}

/** One inference request: read it, run the model, write the answer; each step timed for the statistics. */
async function infer(request: FastifyRequest<{ Params: Params }>, reply: FastifyReply, holder: ServiceHolder, limits: ServerLimits, codec: CodecProcess, stats: InferenceStatistics): Promise<unknown> {
  const started = performance.now();
  const { service, model } = lookup(holder, request.params);
  const name = model.signature.name;
  try {
    const decoded = await decodeBody(request, reply, codec, holder, model, limits);
    const inferredFrom = performance.now();
    const results = await runModel(service, model, decoded, reply, holder, limits);
    const inferredTo = performance.now();
    const head = { model_name: name, model_version: '1', ...(decoded.id !== undefined ? { id: decoded.id } : {}) };
    const { body, headerLength } = encodeResponse(
      head,
      decoded.outputs.map((out) => ({ tensor: outputTensor(out, results, service, model), binary: out.binary })),
    );
    stats.succeeded(name, results.length, { inputMs: inferredFrom - started, inferMs: inferredTo - inferredFrom, outputMs: performance.now() - inferredTo });
    if (headerLength === undefined) return body;
    return reply.header('content-type', 'application/octet-stream').header('inference-header-content-length', String(headerLength)).send(body);
  } catch (err) {
    stats.failed(name, performance.now() - started);
    throw err;
  }
}

/** Registers the v2 routes in their own scope (the protocol reads every body raw and parses it itself). */
export async function v2Routes(app: FastifyInstance, holder: ServiceHolder, limits: ServerLimits, serverVersion: string): Promise<void> {
  await app.register(async (scope) => {
    const codec = new CodecProcess();
    const stats = new InferenceStatistics();
    scope.addHook('onClose', async () => codec.close());
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.maxUploadBytes }, (_request, body, done) => done(null, body));
    // Only inference takes a large body (its own bodyLimit below); the others (repository index, shared-memory calls) a few bytes.
    scope.addHook('onRoute', (route) => {
      route.bodyLimit ??= SMALL_BODY_BYTES;
    });

    scope.get('/v2', async () => ({ name: 'resnet-serve', version: serverVersion, extensions: ['binary_tensor_data', 'classification', 'model_configuration', 'statistics'] }));
    scope.get('/v2/health/live', async () => ({ live: true }));
    // Every 503 says when to ask again.
    scope.get('/v2/health/ready', async (request, reply) => {
      if (holder.ready) return { ready: true };
      holder.notReady(request);
      return reply.code(503).header('retry-after', '1').send({ ready: false });
    });
    scope.post('/v2/repository/index', async (request) => repositoryIndex(holder, request.body));
    scope.get('/v2/models/stats', async () => {
      const { models, trained } = offered(holder);
      return stats.report([...models.keys(), ...trained]);
    });
    sharedMemoryRoutes(scope);

    for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
      scope.get<{ Params: Params }>(prefix, async (request) => {
        const { service, model } = lookup(holder, request.params);
        return modelMetadata(model, service);
      });
      scope.get<{ Params: Params }>(`${prefix}/ready`, async (request) => {
        const { model } = lookup(holder, request.params);
        return { name: model.signature.name, ready: holder.ready };
      });
      scope.get<{ Params: Params }>(`${prefix}/config`, async (request) => {
        const { service, model } = lookup(holder, request.params);
        return modelConfig(model, service, limits);
      });
      scope.post<{ Params: Params }>(`${prefix}/infer`, { bodyLimit: limits.maxUploadBytes, config: { intake: { fields: [], admit: true } } }, (request, reply) => infer(request, reply, holder, limits, codec, stats));
      scope.get<{ Params: Params }>(`${prefix}/stats`, async (request) => {
        const { model } = lookup(holder, request.params);
        return stats.report([model.signature.name]);
      });
    }
  });
}

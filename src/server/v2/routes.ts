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
import type { ServerLimits } from '../options.js';
import { decodeRequest, encodeResponse, parseJson, splitBody, type DecodedRequest, type OutputRequest, type OutputTensor } from './codec.js';
import type { DecodeReply, DecodeTask } from './codec-worker.js';
import { modelConfig, modelMetadata, servedModels, type ServedModel } from './models.js';

type Params = { name: string; version?: string };

/** JSON headers above this size are parsed in a worker thread. */
const WORKER_JSON_BYTES = 256 * 1024;
const CODEC_WORKER = new URL('./codec-worker.js', import.meta.url);

const modelsOf = new WeakMap<ClassificationService, Map<string, ServedModel>>();

function lookup(holder: ServiceHolder, params: Params): { service: ClassificationService; model: ServedModel } {
  const service = holder.require();
  let models = modelsOf.get(service);
  if (!models) modelsOf.set(service, (models = servedModels(service)));
  const model = models.get(params.name);
  if (!model) throw new ResnetServeError('NOT_FOUND', `Unknown model '${params.name}'; this server serves ${[...models.keys()].map((n) => `'${n}'`).join(' and ')}`);
  if (params.version !== undefined && params.version !== '1') throw new ResnetServeError('NOT_FOUND', `Unknown version ${params.version} of model '${params.name}'; the only version is 1`);
  return { service, model };
}

async function decodeBody(request: FastifyRequest, service: ClassificationService, model: ServedModel, limits: ServerLimits): Promise<DecodedRequest> {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const headerLength = request.headers['inference-header-content-length'];
  const { json, binary } = splitBody(body, headerLength);
  const options = { maxBatch: limits.maxFiles, numClasses: service.info.numClasses };
  if (json.length <= WORKER_JSON_BYTES) return decodeRequest(parseJson(json), binary, model.signature, options);
  const task: DecodeTask = { body, headerLength: Array.isArray(headerLength) ? headerLength[0] : headerLength, model: model.signature, ...options };
  const reply = await service.offload<DecodeTask, DecodeReply>(CODEC_WORKER, task);
  if (!reply.ok) throw new ResnetServeError(reply.code, reply.message);
  return reply.request;
}

function outputTensor(out: OutputRequest, rows: Float32Array[], service: ClassificationService): OutputTensor {
  const classes = service.info.numClasses;
  if (out.classification === undefined) {
    const data = new Float32Array(rows.length * classes);
    rows.forEach((row, i) => data.set(row, i * classes));
    return { name: out.name, datatype: 'FP32', shape: [rows.length, classes], data };
  }
  const k = out.classification;
  const strings = rows.flatMap((row) =>
    service.rank(row, { topK: k, lang: 'en' }).map((p) => `${(out.probabilities ? p.score : row[p.index]).toFixed(6)}:${p.index}:${p.label}`),
  );
  return { name: out.name, datatype: 'BYTES', shape: [rows.length, k], data: strings };
}

async function infer(request: FastifyRequest<{ Params: Params }>, reply: FastifyReply, holder: ServiceHolder, limits: ServerLimits): Promise<unknown> {
  const { service, model } = lookup(holder, request.params);
  const decoded = await decodeBody(request, service, model, limits);
  const { input } = decoded;
  const count = input.kind === 'tensor' ? input.batch : input.images.length;
  const release = service.admit(count);
  const rows = await withDeadline(
    reply,
    limits.requestTimeoutMs,
    (signal) => {
      if (input.kind === 'tensor') {
        const per = input.data.length / input.batch;
        return Promise.all(Array.from({ length: input.batch }, (_, i) => service.infer(input.data.subarray(i * per, (i + 1) * per), signal)));
      }
      return Promise.all(input.images.map(async (bytes) => service.infer((await service.preprocess(bytes, signal)).tensor, signal)));
    },
    holder.shutdownSignal,
  ).finally(release);
  const head = { model_name: model.signature.name, model_version: '1', ...(decoded.id !== undefined ? { id: decoded.id } : {}) };
  const { body, headerLength } = encodeResponse(
    head,
    decoded.outputs.map((out) => ({ tensor: outputTensor(out, rows, service), binary: out.binary })),
  );
  if (headerLength === undefined) return body;
  return reply.header('content-type', 'application/octet-stream').header('inference-header-content-length', String(headerLength)).send(body);
}

/** Registers the v2 routes in their own scope (the protocol reads every body raw and parses it itself). */
export async function v2Routes(app: FastifyInstance, holder: ServiceHolder, limits: ServerLimits, serverVersion: string): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.maxUploadBytes }, (_request, body, done) => done(null, body));

    scope.get('/v2', async () => ({ name: 'resnet-serve', version: serverVersion, extensions: ['binary_tensor_data', 'classification', 'model_configuration'] }));
    scope.get('/v2/health/live', async () => ({ live: true }));
    scope.get('/v2/health/ready', async (_request, reply) => reply.code(holder.ready ? 200 : 503).send({ ready: holder.ready }));

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
      scope.post<{ Params: Params }>(`${prefix}/infer`, { config: { intake: { fields: [], admit: true } } }, (request, reply) => infer(request, reply, holder, limits));
    }
  });
}

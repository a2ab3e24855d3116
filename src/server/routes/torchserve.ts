/**
 * TorchServe's inference API, for clients written against its image
 * classifier handler: `POST` or `PUT /predictions/{model}[/{version}]` with
 * the image as the raw body (any or no Content-Type, as `curl -T` and
 * `requests.post(url, data=…)` send it) or as multipart `data`, returns the
 * top 5 as `{"tabby": 0.7557, …}`; a user's trained head is a model of its own
 * (`/predictions/defects`). `GET /ping` returns `{"status": "Healthy"}`.
 * The management API's read-only routes answer on the same port:
 * `GET /models` lists the models and `GET /models/{model}[/{version}]`
 * describes one (registering, scaling and unregistering are not offered: the
 * models are fixed at start and heads are made through `/v1/heads`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ResnetServeError } from '../../errors.js';
import { unknownFirst } from '../../heads/answer.js';
import type { Head } from '../../heads/head.js';
import { decodeBase64Image } from '../base64-image.js';
import { uploadedImages, withDeadline, type ServiceHolder } from '../http.js';
import type { UploadedImage } from '../intake.js';
import type { ServerLimits } from '../options.js';

type Params = { model: string; version?: string };

/** The versions a TorchServe client may name for our one model. */
const VERSIONS = new Set(['1', '1.0']);

/** NOT_FOUND for a version of `model` other than our one (1.0), as TorchServe answers. */
export function checkModelVersion(model: string, version: string | undefined): void {
  if (version !== undefined && !VERSIONS.has(version)) throw new ResnetServeError('NOT_FOUND', `Model ${model} has no version ${version}; the only version is 1.0`);
}

/** The multipart fields TorchServe's image handlers read a photo from (and ours, "file"). */
export const TORCHSERVE_FIELDS = ['data', 'body', 'file'];

/**
 * The model a TorchServe route names: the network itself (undefined) or one
 * of the user's heads (one not trained yet says so); NOT_FOUND, listing what
 * is served, for anything else.
 */
export function namedModel(holder: ServiceHolder, model: string, version: string | undefined): Head | undefined {
  const service = holder.require();
  const heads = holder.requireHeads();
  const head = model === service.info.name ? undefined : heads.has(model) ? heads.get(model) : undefined;
  if (model !== service.info.name && !head) throw new ResnetServeError('NOT_FOUND', `Model ${model} is not served here; this server serves ${[service.info.name, ...heads.trainedNames()].join(', ')}`);
  checkModelVersion(model, version);
  return head;
}

export async function torchserveRoutes(app: FastifyInstance, holder: ServiceHolder, limits: ServerLimits): Promise<void> {
  app.get('/ping', async (request, reply) => {
    if (!holder.ready) {
      holder.notReady(request);
      return reply.code(503).header('retry-after', '1').send({ status: 'Unhealthy' });
    }
    return { status: 'Healthy' };
  });

  // A worker's start time, as TorchServe gives it: when this app was built.
  const started = new Date().toISOString();
  /** The models a TorchServe client may name: the network, then the trained heads. */
  const modelNames = (): string[] => [holder.require().info.name, ...holder.requireHeads().trainedNames()];

  app.get('/models', async () => ({ models: modelNames().map((name) => ({ modelName: name, modelUrl: name })) }));

  async function describeModel(request: FastifyRequest<{ Params: Params }>): Promise<unknown> {
    const { model, version } = request.params;
    const service = holder.require();
    if (!modelNames().includes(model)) throw new ResnetServeError('NOT_FOUND', `Model ${model} is not served here; this server serves ${modelNames().join(', ')}`);
    if (version !== 'all') checkModelVersion(model, version);
    const { batcher } = service;
    return [
      {
        modelName: model,
        modelVersion: '1.0',
        modelUrl: model,
        runtime: 'onnxruntime',
        minWorkers: 1,
        maxWorkers: 1,
        batchSize: batcher.maxBatch,
        maxBatchDelay: batcher.maxWaitMicros / 1000,
        loadedAtStartup: true,
        workers: [{ id: '1', startTime: started, status: holder.ready ? 'READY' : 'UNLOADING', memoryUsage: process.memoryUsage().rss, pid: process.pid, gpu: false, gpuUsage: 'N/A' }],
      },
    ];
  }
  app.get<{ Params: Params }>('/models/:model', describeModel);
  app.get<{ Params: Params }>('/models/:model/:version', describeModel);

  async function predict(request: FastifyRequest<{ Params: Params }>, reply: FastifyReply): Promise<unknown> {
    const service = holder.require();
    const { model, version } = request.params;
    const head = namedModel(holder, model, version);
    const images = torchserveImages(request);
    if (images.length === 0) throw new ResnetServeError('NO_FILE', `No file uploaded (send the image as the request body or as the multipart field ${TORCHSERVE_FIELDS.map((f) => `"${f}"`).join(' or ')})`);
    const outcomes = await withDeadline(reply, limits.requestTimeoutMs, (signal) => service.classifyMany(images.map((i) => i.bytes), { topK: head ? Math.min(5, head.classes.length) : 5, lang: 'en', head }, signal, { handOver: true, whenFull: 'refuse' }), holder.shutdownSignal);
    const round = (v: number): number => Math.round(v * 10000) / 10000;
    const shaped = outcomes.map((o) => {
      if (!o.ok) return { error: o.error.message, code: o.error.code };
      // A head that finds the photo unlike its training photos says so first.
      return Object.fromEntries(unknownFirst(o).map((p) => [p.label, round(p.score)]));
    });
    if (images.length === 1) {
      const [only] = outcomes;
      if (!only.ok) throw only.error;
      return shaped[0];
    }
    return shaped;
  }

  await torchserveRoute(app, '/predictions', limits, predict);
}

/** The photos of a request to TorchServe's routes: one sent as base64 text (a text body, or a form field holding it) decoded, as its image handlers do. */
export function torchserveImages(request: FastifyRequest): UploadedImage[] {
  return uploadedImages(request).map((i) => ({ ...i, bytes: decodeBase64Image(i.bytes) }));
}

/**
 * `POST` and `PUT {prefix}/:model[/:version]` answered by `handler`, in a scope of their own where any body that
 * is not multipart is the photo (or its base64) itself, whatever its Content-Type says (JSON, text, a form), as
 * TorchServe's clients send it.
 */
export async function torchserveRoute(app: FastifyInstance, prefix: string, limits: ServerLimits, handler: (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => Promise<unknown>): Promise<void> {
  await app.register(async (scope) => {
    scope.removeContentTypeParser(['application/json', 'text/plain']);
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.maxUploadBytes }, (_request, body, done) => done(null, body));
    const config = { config: { intake: { fields: TORCHSERVE_FIELDS, admit: true } } };
    for (const path of [`${prefix}/:model`, `${prefix}/:model/:version`]) {
      scope.post<{ Params: Params }>(path, config, handler);
      scope.put<{ Params: Params }>(path, config, handler);
    }
  });
}

/**
 * Teaching the server new classes, and embeddings:
 * - `POST /v1/embed`: the embedding of each uploaded image;
 * - `/v1/heads…`: make a head, add classes, add and remove example photos,
 *   train it, list, describe, download its file, delete it. Heads persist in
 *   the cache folder; a trained head answers `?head=` on the classify routes
 *   and is a model of its own on the v2 and TorchServe routes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ResnetServeError } from '../../errors.js';
import type { TrainOptions } from '../../heads/train.js';
import { uploadedImages, withDeadline, type ServiceHolder } from '../http.js';
import type { ServerLimits } from '../options.js';

type NameParams = { name: string };

const TRAIN_KEYS = ['cv', 'holdout', 'reject', 'reject_rate'];

/** Training options from a JSON body: `cv`, `holdout`, `reject`, `reject_rate`. */
function trainOptions(body: unknown): TrainOptions {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new ResnetServeError('BAD_REQUEST', 'The training options must be a JSON object');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !TRAIN_KEYS.includes(k));
  if (unknown.length) throw new ResnetServeError('BAD_REQUEST', `Unknown training option ${unknown.map((k) => JSON.stringify(k)).join(', ')}; the options are ${TRAIN_KEYS.join(', ')}`);
  if (b.cv !== undefined && b.holdout !== undefined) throw new ResnetServeError('BAD_REQUEST', 'Give "cv" or "holdout", not both');
  const out: TrainOptions = {};
  if (b.cv !== undefined) {
    if (!Number.isInteger(b.cv) || (b.cv as number) < 2 || (b.cv as number) > 20) throw new ResnetServeError('BAD_REQUEST', '"cv" must be an integer from 2 to 20');
    out.folds = b.cv as number;
  }
  if (b.holdout !== undefined) {
    if (typeof b.holdout !== 'number' || !(b.holdout > 0 && b.holdout <= 0.5)) throw new ResnetServeError('BAD_REQUEST', '"holdout" must be a fraction above 0 and at most 0.5');
    out.holdout = b.holdout;
  }
  if (b.reject !== undefined) {
    if (typeof b.reject !== 'boolean') throw new ResnetServeError('BAD_REQUEST', '"reject" must be true or false');
    out.reject = b.reject;
  }
  if (b.reject_rate !== undefined) {
    if (typeof b.reject_rate !== 'number' || !(b.reject_rate > 0 && b.reject_rate < 0.5)) throw new ResnetServeError('BAD_REQUEST', '"reject_rate" must be a fraction between 0 and 0.5');
    out.rejectRate = b.reject_rate;
  }
  return out;
}

/** A request's JSON object body: 415 for a body of another media type (only application/json is parsed, `intake.ts`), 400 for JSON that is not an object. */
function jsonBody(request: FastifyRequest): Record<string, unknown> {
  const body = request.body;
  const type = String(request.headers['content-type'] ?? '').split(';')[0].trim();
  if (body !== undefined && body !== null && type && !/^application\/json$/i.test(type)) {
    throw new ResnetServeError('UNSUPPORTED_MEDIA_TYPE', `Send a JSON object (Content-Type: application/json), not ${type}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ResnetServeError('BAD_REQUEST', 'Send a JSON object (Content-Type: application/json)');
  return body as Record<string, unknown>;
}

export function headRoutes(app: FastifyInstance, holder: ServiceHolder, limits: ServerLimits): void {
  app.post('/v1/embed', { config: { intake: { fields: ['file'], admit: true }, query: [] } }, async (request, reply) => {
    const service = holder.require();
    const images = uploadedImages(request);
    if (images.length === 0) throw new ResnetServeError('NO_FILE', 'No file uploaded (send it as the multipart field "file" or as the body)');
    const outcomes = await withDeadline(reply, limits.requestTimeoutMs, (signal) => service.embedMany(images.map((i) => i.bytes), signal, { handOver: true, whenFull: 'refuse' }), holder.shutdownSignal);
    const model = { name: service.info.name, sha256: service.info.sha256 };
    if (images.length === 1) {
      const [only] = outcomes;
      if (!only.ok) throw only.error;
      return { embedding: Array.from(only.embedding), dim: only.embedding.length, model };
    }
    return {
      model,
      results: outcomes.map((o, i) => (o.ok ? { file: images[i].name, dim: o.embedding.length, embedding: Array.from(o.embedding) } : { file: images[i].name, error: { code: o.error.code, message: o.error.message } })),
    };
  });

  app.get('/v1/heads', async () => ({ heads: holder.requireHeads().list() }));

  app.post('/v1/heads', async (request, reply) => {
    const body = jsonBody(request);
    return reply.code(201).send(holder.requireHeads().create(body.name, body.classes ?? []));
  });

  app.get<{ Params: NameParams }>('/v1/heads/:name', async (request) => {
    const heads = holder.requireHeads();
    const description = heads.describe(request.params.name);
    return description.source === 'api' ? { ...description, examples: heads.examples(request.params.name) } : description;
  });

  app.delete<{ Params: NameParams }>('/v1/heads/:name', async (request, reply) => {
    holder.requireHeads().remove(request.params.name);
    return reply.code(204).send();
  });

  app.post<{ Params: NameParams }>('/v1/heads/:name/classes', async (request) => {
    const body = jsonBody(request);
    const classes = body.classes ?? (body.name !== undefined ? [body.name] : undefined);
    if (classes === undefined) throw new ResnetServeError('BAD_REQUEST', 'Send {"name": "<class>"} or {"classes": ["<class>", …]}');
    return holder.requireHeads().addClasses(request.params.name, classes);
  });

  app.delete<{ Params: NameParams & { class: string } }>('/v1/heads/:name/classes/:class', async (request) => holder.requireHeads().removeClass(request.params.name, request.params.class));

  app.post<{ Params: NameParams; Querystring: { class?: string } }>('/v1/heads/:name/examples', { config: { intake: { fields: ['file'], admit: true }, query: ['class'] } }, async (request, reply) => {
    const heads = holder.requireHeads();
    const images = uploadedImages(request);
    const result = await withDeadline(reply, limits.requestTimeoutMs, (signal) => heads.addExamples(request.params.name, request.query.class, images, signal), holder.shutdownSignal);
    return reply.code(201).send(result);
  });

  const exampleId = (value: string): number => {
    if (!/^\d+$/.test(value)) throw new ResnetServeError('NOT_FOUND', `No photo ${value}`);
    return Number(value);
  };

  app.delete<{ Params: NameParams & { id: string } }>('/v1/heads/:name/examples/:id', async (request) => holder.requireHeads().removeExample(request.params.name, exampleId(request.params.id)));

  app.get<{ Params: NameParams & { id: string } }>('/v1/heads/:name/examples/:id/thumbnail', async (request, reply: FastifyReply) =>
    reply.header('content-type', 'image/jpeg').header('cache-control', 'private, max-age=3600').send(holder.requireHeads().thumbnail(request.params.name, exampleId(request.params.id))),
  );

  app.post<{ Params: NameParams }>('/v1/heads/:name/train', async (request, reply) => {
    const heads = holder.requireHeads();
    const options = trainOptions(request.body);
    return withDeadline(reply, limits.requestTimeoutMs, (signal) => heads.train(request.params.name, options, signal), holder.shutdownSignal);
  });

  app.get<{ Params: NameParams }>('/v1/heads/:name/file', async (request, reply) => {
    const text = holder.requireHeads().file(request.params.name);
    const filename = `${request.params.name.replace(/[^\w.-]+/g, '_')}.head.json`;
    return reply.header('content-type', 'application/json; charset=utf-8').header('content-disposition', `attachment; filename="${filename}"; filename*=UTF-8''${encodeURIComponent(`${request.params.name}.head.json`)}`).send(text);
  });
}

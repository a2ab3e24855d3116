/**
 * TorchServe-style inference, for clients written against TorchServe's
 * image classifier handler: `POST /predictions/{model}` (raw body or
 * multipart `data`) returns the top 5 as `{"tabby": 0.7557, …}`, and
 * `GET /ping` returns `{"status": "Healthy"}`.
 */
import type { FastifyInstance } from 'fastify';
import { ResnetServeError } from '../../errors.js';
import { readImages, withDeadline, type ServiceHolder } from '../http.js';
import type { ServerLimits } from '../options.js';

export function torchserveRoutes(app: FastifyInstance, holder: ServiceHolder, limits: ServerLimits): void {
  app.get('/ping', async (_request, reply) => {
    if (!holder.ready) return reply.code(503).send({ status: 'Unhealthy' });
    return { status: 'Healthy' };
  });

  app.post<{ Params: { model: string } }>('/predictions/:model', async (request, reply) => {
    const service = holder.require();
    if (request.params.model !== service.info.name) {
      throw new ResnetServeError('NOT_FOUND', `Model ${request.params.model} is not served here; this server serves ${service.info.name}`);
    }
    service.ensureCapacity();
    const images = await readImages(request, ['data', 'file'], limits);
    if (images.length === 0) throw new ResnetServeError('NO_FILE', 'No file uploaded');
    const outcomes = await withDeadline(reply, limits.requestTimeoutMs, (signal) => service.classifyMany(images.map((i) => i.bytes), { topK: 5, lang: 'en' }, signal));
    const shaped = outcomes.map((o) => {
      if (!o.ok) return { error: o.error.message, code: o.error.code };
      return Object.fromEntries(o.predictions.map((p) => [p.label, Math.round(p.score * 10000) / 10000]));
    });
    if (images.length === 1) {
      const [only] = outcomes;
      if (!only.ok) throw only.error;
      return shaped[0];
    }
    return shaped;
  });
}

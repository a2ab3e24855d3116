/** Operations endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document. */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import type { ServiceHolder } from '../http.js';
import type { ServerMetrics } from '../metrics.js';
import { openApiDocument } from '../openapi.js';

const gzipAsync = promisify(gzip);

export function opsRoutes(app: FastifyInstance, holder: ServiceHolder, metrics: ServerMetrics, version: string): void {
  // Liveness under both names Kubernetes' own components use.
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/livez', async () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    if (holder.ready) return { status: 'ready' };
    // Not ready: the status a probe reads, and the code and sentence every refusal has (logged and counted as one).
    const why = holder.notReady(request);
    return reply.code(503).header('retry-after', '1').send({ status: holder.draining ? 'draining' : 'loading', code: 'NOT_READY', error: why });
  });
  app.get('/metrics', async (request, reply) => {
    metrics.ready.set(holder.ready ? 1 : 0);
    const text = await metrics.registry.metrics();
    reply.header('content-type', metrics.registry.contentType).header('vary', 'accept-encoding');
    // Prometheus asks for gzip: about a tenth of the bytes per scrape, compressed off the event loop.
    if (!/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) return reply.send(text);
    return reply.header('content-encoding', 'gzip').send(await gzipAsync(text));
  });
  app.get('/openapi.json', async () => openApiDocument(version));
}

/**
 * `buildApp(options)` assembles the HTTP service and returns it without
 * listening (tests call `app.inject()`; `server.ts` listens). The model
 * service may still be loading: readiness and inference routes answer 503
 * until it is there.
 */
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { ClassificationService } from '../classify/service.js';
import { ResnetServeError } from '../errors.js';
import { ORT_VERSION } from '../model/session.js';
import { ServiceHolder, sendError } from './http.js';
import { ServerMetrics } from './metrics.js';
import { resolveLimits, type AccessOptions, type ServerLimits } from './options.js';
import { kserveRoutes } from './routes/kserve.js';
import { opsRoutes } from './routes/ops.js';
import { seedRoutes } from './routes/seed.js';
import { torchserveRoutes } from './routes/torchserve.js';
import { v1Routes } from './routes/v1.js';
import { webRoutes } from './routes/web.js';

/** How to build the app. */
export interface AppOptions {
  /** The model service, or a promise of it while it loads. */
  service: ClassificationService | Promise<ClassificationService>;
  limits?: Partial<ServerLimits>;
  /** Fastify logger setting (default off). */
  logger?: boolean | object;
  /** Collect Node.js process metrics too (default true). */
  processMetrics?: boolean;
  /** API key and CORS. */
  access?: AccessOptions;
}

/** Paths anyone may call even when an API key is set: health checks and the page itself. */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/ping', '/v2/health/live', '/v2/health/ready', '/', '/app.js', '/app.css', '/icon.svg']);

/** Compares a presented key with the expected one in constant time (hashes make the lengths equal). */
function keyMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

/** Maps Fastify's own errors (body limits, multipart limits, content types, JSON) to our codes. */
function toTyped(err: FastifyError, limits: ServerLimits): ResnetServeError {
  if (err instanceof ResnetServeError) return err;
  const mb = (limits.maxUploadBytes / (1024 * 1024)).toFixed(0);
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return new ResnetServeError('PAYLOAD_TOO_LARGE', `Upload is larger than the limit of ${mb} MB`);
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new ResnetServeError('TOO_MANY_FILES', `At most ${limits.maxFiles} files per request`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ResnetServeError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported Content-Type; send multipart/form-data, an image/* body or JSON as the endpoint expects');
  }
  if (err.statusCode === 413) return new ResnetServeError('PAYLOAD_TOO_LARGE', `Upload is larger than the limit of ${mb} MB`);
  if (err.statusCode === 415) return new ResnetServeError('UNSUPPORTED_MEDIA_TYPE', err.message);
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new ResnetServeError('BAD_REQUEST', err.message);
  return new ResnetServeError('INTERNAL', 'Internal error; see the server log');
}

/** The app, with the readiness holder and the metrics registry attached. */
export type ResnetApp = FastifyInstance & { holder: ServiceHolder; metrics: ServerMetrics };

/** Builds the app; `app.holder` says whether the model is loaded, `app.metrics` holds the registry. */
export async function buildApp(options: AppOptions): Promise<ResnetApp> {
  const limits = resolveLimits(options.limits);
  const holder = new ServiceHolder();
  const metrics = new ServerMetrics(options.processMetrics ?? true);
  // Keys never reach the log, wherever a plugin puts request headers (multipart logs them at trace level).
  const redact = ['req.headers.authorization', 'busboyOptions.headers.authorization', 'headers.authorization'];
  const logger = options.logger === true ? { redact } : options.logger ? { ...options.logger, redact } : false;
  const app = Fastify({
    logger,
    bodyLimit: limits.maxUploadBytes,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Node's own timeouts free slow or stalled clients; checked every second instead of every 30.
    serverFactory: (handler) =>
      createServer(
        { connectionsCheckingInterval: 1000, headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.bodyTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs },
        handler,
      ),
  });
  const access = options.access ?? {};
  if (access.apiKey !== undefined && access.apiKey.length < 8) throw new ResnetServeError('INVALID_ARGUMENT', 'The API key must be at least 8 characters');

  Promise.resolve(options.service).then(
    (service) => {
      holder.service = service;
      service.observer ??= metrics.observer;
      metrics.setModel(service.info, ORT_VERSION, service.workers);
    },
    () => {
      // The caller owns load failures (server.ts exits); routes keep answering NOT_READY.
    },
  );

  await app.register(multipart, { limits: { fileSize: limits.maxUploadBytes, files: limits.maxFiles + 1, fields: 16, parts: limits.maxFiles + 17 } });
  const rawImage = { parseAs: 'buffer' as const, bodyLimit: limits.maxUploadBytes };
  app.addContentTypeParser(/^image\/[\w.+-]+$/, rawImage, (_request, body, done) => done(null, body));
  app.addContentTypeParser('application/octet-stream', rawImage, (_request, body, done) => done(null, body));

  await app.register(cors, { origin: access.corsOrigins?.length ? access.corsOrigins : false, methods: ['GET', 'POST'], allowedHeaders: ['Authorization', 'Content-Type', 'Inference-Header-Content-Length'] });

  app.addHook('onRequest', async (request, reply) => {
    metrics.inFlight.inc();
    reply.raw.once('close', () => metrics.inFlight.dec());
    if (access.apiKey === undefined || request.method === 'OPTIONS' || OPEN_PATHS.has(request.url.split('?')[0])) return;
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!presented || !keyMatches(presented, access.apiKey)) {
      reply.header('www-authenticate', 'Bearer');
      return sendError(reply, new ResnetServeError('UNAUTHORIZED', 'This server needs an API key: send "Authorization: Bearer <key>"'));
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const typed = toTyped(err, limits);
    if (typed.code === 'INTERNAL') request.log.error({ err }, 'unhandled error');
    return sendError(reply, typed);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new ResnetServeError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)));

  seedRoutes(app, holder, limits);
  v1Routes(app, holder, limits);
  torchserveRoutes(app, holder, limits);
  opsRoutes(app, holder, metrics, VERSION);
  webRoutes(app);
  await app.register(async (scope) => {
    // The v2 protocol sends JSON or JSON followed by binary tensors: read every body raw and parse it in the route.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.maxUploadBytes }, (_request, body, done) => done(null, body));
    kserveRoutes(scope, holder, limits, VERSION);
  });

  app.decorate('holder', holder);
  app.decorate('metrics', metrics);
  return app as unknown as ResnetApp;
}

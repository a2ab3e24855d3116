/**
 * `buildApp(options)` assembles the HTTP service and returns it without
 * listening (tests call `app.inject()`; `server.ts` listens). The model
 * service may still be loading: readiness and inference routes answer 503
 * until it is there.
 */
import cors from '@fastify/cors';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyRequest, type HTTPMethods } from 'fastify';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { ClassificationService } from '../classify/service.js';
import { HeadRegistry } from './heads.js';
import { ResnetServeError, invalidArgument } from '../errors.js';
import { ORT_VERSION } from '../model/ort-version.js';
import { PROBE_PATHS, ServiceHolder, sendError } from './http.js';
import { checkQueryParams } from './query-params.js';
import { logRequest, logUrl, recordRefusal, refusalCode } from './request-log.js';
import { damagedIndexError } from '../library/damaged-index.js';
import { answerClientError, type ClientRefusal } from './client-errors.js';
import { InflightBytes, discardUnreadBody, registerIntake, tooLarge } from './intake.js';
import { ServerMetrics } from './metrics.js';
import { resolveLimits, type AccessOptions, type ServerLimits } from './options.js';
import { opsRoutes } from './routes/ops.js';
import { seedRoutes } from './routes/seed.js';
import { explainRoutes } from './routes/explain.js';
import { torchserveRoutes } from './routes/torchserve.js';
import { headRoutes } from './routes/heads.js';
import { libraryRoutes } from './routes/library.js';
import type { LibraryService } from './library.js';
import { v1Routes } from './routes/v1.js';
import { PAGE_PATHS, webRoutes } from './routes/web.js';
import { v2Routes } from './v2/routes.js';

/** How to build the app. */
export interface AppOptions {
  /** The model service, or a promise of it while it loads. */
  service: ClassificationService | Promise<ClassificationService>;
  /** Its heads (default: the heads made through the API, in the service's cache folder). */
  heads?: HeadRegistry | Promise<HeadRegistry>;
  limits?: Partial<ServerLimits>;
  /** Fastify logger setting (default off). */
  logger?: boolean | object;
  /** Collect Node.js process metrics too (default true). */
  processMetrics?: boolean;
  /** API key and CORS. */
  access?: AccessOptions;
  /** A tagged photo library for the gallery (`serve --library DIR`). */
  library?: LibraryService;
}

/** After a refusal, at most this many times the upload limit is read and dropped before the connection is closed. */
const DRAIN_FACTOR = 4;

/** Paths anyone may call even when an API key is set: health checks and the page itself. */
const OPEN_PATHS = new Set([...PROBE_PATHS, ...PAGE_PATHS]);
/** Health checks and the metrics scrape: their requests are logged only when they fail. */
const QUIET_PATHS = new Set([...PROBE_PATHS, '/metrics']);
/** Methods a route may have, for the Allow header of a 405. */
const ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'] as const;

/** A route's URL pattern (`/v2/models/:name/infer`) and a test of a request path against it. */
function routePattern(url: string): { url: string; test: (path: string) => boolean } {
  const regex = new RegExp(`^${url.split('/').map((part) => (part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$`);
  return { url, test: (path) => regex.test(path) };
}

/** A caller's X-Request-Id when it is a sane token, else a new UUID. */
function requestIdOf(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && /^[\w.:/-]{1,128}$/.test(given) ? given : randomUUID();
}

/** Compares a presented key with the expected one in constant time (hashes make the lengths equal). */
function keyMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Whether a request changes the server (a head made, taught, trained or
 * deleted), by the route it was matched to: the router decodes the path
 * (`/v1/%68eads` is `/v1/heads`), so the raw path cannot say.
 */
function changesServer(method: string | undefined, route: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && (route === '/v1/heads' || route.startsWith('/v1/heads/'));
}

/**
 * Why a request without the right API key is refused (`null` when it may go
 * on): health checks, the page and CORS preflights need no key, nor, with
 * `keyFor: 'changes'`, anything that leaves the server as it is (`route`:
 * the route pattern the request was matched to, `unknown` when none yet).
 * `challenge` is the WWW-Authenticate header to send with the 401.
 */
function keyRefusal(access: AccessOptions, method: string | undefined, url: string | undefined, route: string, authorization: string | undefined): { error: ResnetServeError; challenge: string } | null {
  const { apiKey } = access;
  if (apiKey === undefined || method === 'OPTIONS' || OPEN_PATHS.has((url ?? '').split('?')[0])) return null;
  // The scheme is case-insensitive (RFC 9110), and any amount of space may follow it.
  const presented = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1] ?? '';
  // Open to all without a key; a key sent there must still be right, so a client with a mistyped one learns it at once.
  if (access.keyFor === 'changes' && !changesServer(method, route) && (!presented || keyMatches(presented, apiKey))) return null;
  if (!presented) return { challenge: 'Bearer', error: new ResnetServeError('UNAUTHORIZED', 'This server needs an API key: send "Authorization: Bearer <key>"') };
  // RFC 6750: a key was sent, and it is not this server's.
  if (!keyMatches(presented, apiKey)) return { challenge: 'Bearer error="invalid_token"', error: new ResnetServeError('UNAUTHORIZED', 'The API key sent is not this server\'s: check the key in "Authorization: Bearer <key>"') };
  return null;
}

const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

/** What a route takes, said to a client that sent a Content-Type no parser of it reads. */
function unsupportedType(request: FastifyRequest): ResnetServeError {
  const type = String(request.headers['content-type'] ?? '').split(';')[0].trim();
  const sent = type ? type : 'a body without Content-Type';
  const field = request.routeOptions.config?.intake?.fields[0];
  return new ResnetServeError(
    'UNSUPPORTED_MEDIA_TYPE',
    field !== undefined
      ? `Send images as multipart/form-data (field "${field}") or as an image/* body, not ${sent}`
      : `This endpoint takes JSON (Content-Type: application/json), not ${sent}`,
  );
}

/** Maps Fastify's own errors (body limits, multipart limits, content types, JSON) to our codes. */
function toTyped(err: FastifyError, request: FastifyRequest, limits: ServerLimits): ResnetServeError {
  if (err instanceof ResnetServeError) return err;
  const damaged = damagedIndexError(err);
  if (damaged) return damaged;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return tooLarge(limits, request.routeOptions.bodyLimit);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return unsupportedType(request);
  }
  if (err.statusCode === 413) return tooLarge(limits, request.routeOptions.bodyLimit);
  if (err.statusCode === 415) return new ResnetServeError('UNSUPPORTED_MEDIA_TYPE', err.message);
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new ResnetServeError('BAD_REQUEST', err.message);
  return new ResnetServeError('INTERNAL', 'Internal error; see the server log');
}

/** Stands in for Fastify's schema compilers: nothing here compiles a route schema. */
function noRouteSchemas(): never {
  throw new Error('resnet-serve routes validate their own input: route JSON schemas are not compiled');
}

/** The app, with the readiness holder and the metrics registry attached. */
export type ResnetApp = FastifyInstance & { holder: ServiceHolder; metrics: ServerMetrics; limits: ServerLimits };

/** Builds the app; `app.holder` says whether the model is loaded, `app.metrics` holds the registry, `app.limits` the limits in force. */
export async function buildApp(options: AppOptions): Promise<ResnetApp> {
  // Called from plain JavaScript without its model: said as such, not as a TypeError from deep inside.
  if (typeof options !== 'object' || options === null || options.service === undefined) throw invalidArgument('buildApp options.service', 'a ClassificationService or a promise of one (ClassificationService.start({ model }))', (options as AppOptions | undefined)?.service);
  const limits = resolveLimits(options.limits);
  const holder = new ServiceHolder();
  const metrics = new ServerMetrics(options.processMetrics ?? true, VERSION);
  // Requests refused with 405 are counted under the route they named (found again from its path).
  const routePatterns: { url: string; test: (path: string) => boolean }[] = [];
  const refusedMethods = new WeakMap<object, string>();
  // The most specific route pattern a path matches (/v1/heads/stats before /v1/heads/:name).
  const mostSpecificRoute = (path: string): string | undefined => {
    const params = (url: string): number => url.split(':').length;
    return routePatterns.filter((pattern) => pattern.test(path)).sort((a, b) => params(a.url) - params(b.url))[0]?.url;
  };
  // The route a request is for, found before routing runs (a refusal sent before its body).
  const routeNamed = (method: string | undefined, url: string | undefined): string => {
    const path = (url ?? '').split('?')[0];
    const routed = method !== undefined && app.findRoute({ method: method as HTTPMethods, url: path }) !== null;
    return (routed && mostSpecificRoute(path)) || 'unknown';
  };
  // Connections whose request was answered before its body had arrived (a refusal), and responses Node answered itself.
  const answeredBeforeBody = new WeakSet<object>();
  const answeredByNode = new WeakMap<object, ClientRefusal>();
  const access = options.access ?? {};
  if (access.apiKey !== undefined && access.apiKey.length < 8) throw new ResnetServeError('INVALID_ARGUMENT', 'The API key must be at least 8 characters');
  if (access.keyFor !== undefined && access.keyFor !== 'all' && access.keyFor !== 'changes') throw invalidArgument('access.keyFor', '"all" or "changes"', access.keyFor);
  if (access.keyFor === 'changes' && access.apiKey === undefined) throw new ResnetServeError('INVALID_ARGUMENT', 'access.keyFor "changes" needs an API key (access.apiKey): without one, anyone may change the heads');
  // Keys never reach the log, wherever a plugin puts request headers (multipart logs them at trace level).
  const redact = ['req.headers.authorization', 'busboyOptions.headers.authorization', 'headers.authorization'];
  const logger = options.logger === true ? { redact } : options.logger ? { ...options.logger, redact } : false;
  const app = Fastify({
    logger,
    // One line per request, written by our onResponse hook (request-log.ts), instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // A caller's X-Request-Id (a proxy's or a camera's) names the request in the log and comes back in the answer; else one is made.
    genReqId: (req) => requestIdOf(req.headers),
    bodyLimit: limits.maxUploadBytes,
    // Connections stay open while draining, so a request racing the shutdown gets our 503 instead of a
    // reset; server.ts closes them all once every request has its answer.
    forceCloseConnections: false,
    // Draining is answered by our own hook, with our error body.
    return503OnClosing: false,
    // Routes check their input themselves (one error type with codes) and have no JSON schemas, so Ajv and
    // fast-json-stringify are never loaded (a tenth of the start-up); a route given a schema fails at start.
    schemaController: { compilersFactory: { buildValidator: noRouteSchemas, buildSerializer: noRouteSchemas } },
    // Refused before routing: counted here, since no route's hooks run for them.
    clientErrorHandler: (err, socket) =>
      answerClientError(err, socket, (refusal) => {
        // A routed request Node refused (its body too slow): counted and logged under its route when its response closes.
        if (refusal.routed) return void answeredByNode.set(refusal.routed, refusal);
        // A client leaving after its answer (an upload refused as too large, then cut short) left nothing unanswered.
        if (refusal.status === 499 && answeredBeforeBody.has(socket)) return;
        metrics.answered('unknown', 'unknown', refusal.status, refusal.code);
      }),
    frameworkErrors: (err, request, reply) => {
      metrics.answered('unknown', request.method, 400, 'BAD_REQUEST');
      sendError(reply, new ResnetServeError('BAD_REQUEST', err.code === 'FST_ERR_BAD_URL' ? 'The URL is not valid' : err.message));
    },
    // Node's own timeouts free slow or stalled clients; checked every second instead of every 30.
    serverFactory: (handler) => {
      const server = createServer(
        { connectionsCheckingInterval: 1000, headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.bodyTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs },
        handler,
      );
      // "Expect: 100-continue" with a body over the limit is refused before the client sends it.
      // A client without the right key is told that first, as it would be without "Expect".
      server.on('checkContinue', (req, res) => {
        const declared = Number(req.headers['content-length']);
        const unauthorized = keyRefusal(access, req.method, req.url, routeNamed(req.method, req.url), req.headers.authorization);
        const refusal = unauthorized?.error ?? (Number.isFinite(declared) && declared > limits.maxUploadBytes ? tooLarge(limits) : null);
        if (refusal) {
          // Refused before any route runs: counted under the route it names and logged here, as the hooks would have.
          const reqId = requestIdOf(req.headers);
          const route = routeNamed(req.method, req.url);
          // Answered at once, so 0 ms.
          metrics.answered(route, req.method ?? 'unknown', refusal.status, refusal.code, 0);
          app.log.info({ reqId, method: req.method, url: logUrl(req.url), route, status: refusal.status, ms: 0, code: refusal.code, error: refusal.message }, 'request refused before its body was sent');
          const body = JSON.stringify({ error: refusal.message, code: refusal.code });
          const challenge = unauthorized ? { 'www-authenticate': unauthorized.challenge } : {};
          res.writeHead(refusal.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close', 'x-request-id': reqId, ...challenge }).end(body);
          return;
        }
        res.writeContinue();
        handler(req, res);
      });
      return server;
    },
  });

  Promise.resolve(options.service)
    .then(async (service) => {
      holder.heads = await (options.heads ?? HeadRegistry.open(service));
      holder.service = service;
      service.observer ??= metrics.observer;
      metrics.setModel(service.info, ORT_VERSION, service.workers, { inProgress: () => service.inFlight, inModel: () => service.inModel, limit: service.maxAdmitted });
    })
    .catch(() => {
      // The caller owns model and head load failures (server.ts exits); routes keep answering NOT_READY.
    });

  await app.register(cors, {
    origin: access.corsOrigins?.length ? access.corsOrigins : false,
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    // A page on another origin may compress v2 bodies and must read where a binary answer's JSON ends and when to retry.
    allowedHeaders: ['Authorization', 'Content-Type', 'Content-Encoding', 'Inference-Header-Content-Length', 'X-Request-Id'],
    exposedHeaders: ['Inference-Header-Content-Length', 'Retry-After', 'X-Request-Id'],
    // Browsers keep a preflight's answer for 10 minutes instead of asking before every request.
    maxAge: 600,
    // An OPTIONS that is not a browser's preflight (curl -X OPTIONS) gets the same 204 and headers, not a text/plain 400.
    strictPreflight: false,
  });

  app.addHook('onRequest', async (request, reply) => {
    // On the response from the start, so an answer Node writes itself (408: a body too slow) carries it too.
    reply.raw.setHeader('x-request-id', request.id);
    metrics.inFlight.inc();
    holder.active++;
    reply.raw.once('close', () => {
      metrics.inFlight.dec();
      holder.active--;
      // The client left before its answer (mid-upload, or a proxy's or a camera's timeout): no response, so
      // onResponse never counts it; counted here under its route, as nginx does, 499.
      if (!reply.raw.writableEnded) {
        const route = request.routeOptions.url ?? 'unknown';
        // Or Node answered it itself (408: its body was too slow).
        const byNode = answeredByNode.get(reply.raw);
        const status = byNode?.status ?? 499;
        if (byNode?.code) recordRefusal(request, { code: byNode.code, message: byNode.error ?? '' });
        metrics.answered(route, request.method, status, byNode?.code);
        if (logger) logRequest(request, reply, route, false, status);
      }
    });
    if (holder.draining && !OPEN_PATHS.has(request.url.split('?')[0])) {
      return sendError(reply, new ResnetServeError('NOT_READY', 'The server is shutting down'));
    }
    const refused = keyRefusal(access, request.method, request.url, request.routeOptions.url ?? '', request.headers.authorization);
    if (refused) {
      reply.header('www-authenticate', refused.challenge);
      return sendError(reply, refused.error);
    }
    checkQueryParams(request);
  });
  // Every answer sent while draining closes its connection, those of requests accepted before the signal too.
  app.addHook('onSend', async (_request, reply) => {
    if (holder.draining) reply.header('connection', 'close');
  });
  // Names in paths and `?head=` in composed Unicode (NFC), as heads and classes are stored: "Café" typed on a Mac
  // (decomposed, NFD) names the head made on the page.
  app.addHook('preValidation', async (request) => {
    const params = (request.params ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(params)) if (typeof value === 'string') params[key] = value.normalize('NFC');
    const query = (request.query ?? {}) as Record<string, unknown>;
    if (typeof query.head === 'string') query.head = query.head.normalize('NFC');
  });
  app.addHook('onResponse', async (request, reply) => {
    if (!request.raw.complete) answeredBeforeBody.add(request.raw.socket);
    const route = request.routeOptions.url ?? refusedMethods.get(request) ?? 'unknown';
    metrics.answered(route, request.method, reply.statusCode, reply.statusCode >= 400 ? refusalCode(request) : undefined, reply.elapsedTime / 1000);
    if (logger) logRequest(request, reply, route, QUIET_PATHS.has(route));
  });

  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    const typed = toTyped(err, request, limits);
    if (typed.code === 'INTERNAL') {
      // "See the server log" must lead somewhere: without --log the error goes to stderr.
      if (logger) request.log.error({ err }, 'unhandled error');
      else process.stderr.write(`resnet-serve: internal error on ${request.method} ${request.url.split('?')[0]}: ${err.stack ?? err.message}\n`);
    }
    // Refused while the body was still arriving: read the rest so the client sees this answer.
    await discardUnreadBody(request, reply, DRAIN_FACTOR * limits.maxUploadBytes);
    return sendError(reply, typed);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    // A route that exists for other methods (GET /predict): 405 with the methods it takes (RFC 9110).
    const takes = (url: string): string[] => ROUTE_METHODS.filter((method) => app.findRoute({ method, url }) !== null);
    const allowed = takes(path).filter((method) => method !== request.method);
    if (allowed.length) {
      const route = mostSpecificRoute(path);
      if (route) refusedMethods.set(request, route);
      reply.header('allow', allowed.join(', '));
      return sendError(reply, new ResnetServeError('METHOD_NOT_ALLOWED', `${path} takes ${allowed.join(' or ')}, not ${request.method}`));
    }
    // A trailing slash (`curl …/predict/`) names the address without it, and the methods it takes when not this one.
    const trimmed = path.length > 1 && path.endsWith('/') ? path.replace(/\/+$/, '') : null;
    const trimmedTakes = trimmed ? takes(trimmed) : [];
    const hint =
      request.method === 'GET' && /^\/v2\/models\/?$/.test(path)
        ? ': the Open Inference Protocol lists models with POST /v2/repository/index (as Triton does), or GET /v1/models'
        : trimmedTakes.includes(request.method)
          ? `; did you mean ${request.method} ${trimmed}, without the trailing slash?`
          : trimmedTakes.length
            ? `; ${trimmed}, without the trailing slash, takes ${trimmedTakes.join(' or ')}`
            : '';
    return sendError(reply, new ResnetServeError('NOT_FOUND', `No route ${request.method} ${path}${hint}`));
  });

  app.addHook('onRoute', (route) => {
    if (!routePatterns.some((p) => p.url === route.url)) routePatterns.push(routePattern(route.url));
    if ([route.method].flat().some((m) => m === 'POST' || m === 'PUT')) metrics.workRoute(route.url);
  });
  registerIntake(app, holder, limits, new InflightBytes(limits.maxInflightBytes));
  seedRoutes(app, holder, limits);
  v1Routes(app, holder, limits, { library: options.library != null });
  headRoutes(app, holder, limits);
  libraryRoutes(app, options.library ?? null);
  await torchserveRoutes(app, holder, limits);
  await explainRoutes(app, holder, limits);
  opsRoutes(app, holder, metrics, VERSION);
  webRoutes(app);
  await v2Routes(app, holder, limits, VERSION);

  app.addHook('onClose', async () => {
    holder.heads?.close();
    options.library?.close();
  });
  app.decorate('holder', holder);
  app.decorate('metrics', metrics);
  app.decorate('limits', limits);
  return app as unknown as ResnetApp;
}

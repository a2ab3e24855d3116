/**
 * Helpers every route shares: the service holder with readiness and
 * shutdown, the uploaded images of a request, query options, deadlines, and
 * error bodies.
 */
import { setMaxListeners } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClassificationService } from '../classify/service.js';
import { ResnetServeError, invalidArgument } from '../errors.js';
import type { ClassifyOptions, LabelLanguage } from '../types.js';
import type { Head } from '../heads/head.js';
import { recordRefusal } from './request-log.js';
import type { HeadRegistry } from './heads.js';
import type { MultipartBody, UploadedImage } from './intake.js';

/** Health checks: open without an API key, answered while draining, not logged as traffic, described without a 401. */
export const PROBE_PATHS: readonly string[] = ['/healthz', '/livez', '/readyz', '/ping', '/v2/health/live', '/v2/health/ready'];

/** Where the service and its heads live once loaded, whether the server takes work, and the signal that ends work at shutdown. */
export class ServiceHolder {
  service: ClassificationService | null = null;
  heads: HeadRegistry | null = null;
  draining = false;
  /** Requests being served now. */
  active = 0;
  private readonly shutdown = new AbortController();

  constructor() {
    setMaxListeners(0, this.shutdown.signal);
  }

  /** Aborted when the server gives up on the requests still in flight (end of the shutdown grace period). */
  get shutdownSignal(): AbortSignal {
    return this.shutdown.signal;
  }

  /** Ends every request still in flight with NOT_READY (503). */
  abortInFlight(): void {
    this.shutdown.abort(new ResnetServeError('NOT_READY', 'The server is shutting down'));
  }

  get ready(): boolean {
    return this.service !== null && this.heads !== null && !this.draining;
  }

  /**
   * A readiness probe answered "not ready" (each protocol's own body): counted
   * and logged as a NOT_READY refusal, as every refusal is. Returns why.
   */
  notReady(request: FastifyRequest): string {
    const why = this.draining ? 'The server is shutting down' : 'The model is loading';
    recordRefusal(request, { code: 'NOT_READY', message: why });
    return why;
  }

  /**
   * The service, or NOT_READY while loading. While draining it is still
   * given: a request that reaches its handler was accepted before the
   * shutdown began (later ones are refused as they arrive), and is served
   * until the grace period ends (`shutdownSignal`).
   */
  require(): ClassificationService {
    if (!this.service || !this.heads) throw new ResnetServeError('NOT_READY', 'The model is still loading; retry shortly');
    return this.service;
  }

  /** The head registry (NOT_READY while loading). */
  requireHeads(): HeadRegistry {
    this.require();
    return this.heads as HeadRegistry;
  }

  /** The trained head named by a request's `head` parameter, or undefined when there is none. */
  headFrom(query: unknown): Head | undefined {
    const name = (query as Record<string, unknown> | undefined)?.head;
    if (name === undefined) return undefined;
    if (typeof name !== 'string' || name.trim() === '') throw invalidArgument('head', 'one head name (leave "head" out to answer with the ImageNet classes)', name);
    return this.requireHeads().get(name);
  }
}

/** The JSON error body: a human message and a stable code. */
export function errorBody(err: ResnetServeError): { error: string; code: string } {
  return { ...err.details, error: err.message, code: err.code };
}

/** Sends a typed error with its status (and Retry-After for 503). */
export function sendError(reply: FastifyReply, err: ResnetServeError): FastifyReply {
  if (err.status === 503) reply.header('retry-after', '1');
  // The request's log line says which refusal, not only its status.
  recordRefusal(reply.request, err);
  return reply.code(err.status).send(errorBody(err));
}

const isMultipartBody = (body: unknown): body is MultipartBody => typeof body === 'object' && body !== null && (body as MultipartBody).kind === 'multipart';

/**
 * The images a request carried: the files of its multipart image fields (in
 * upload order), or its raw body (`image/*`, `application/octet-stream`, or
 * no Content-Type where the route accepts that). NO_FILE, naming the field,
 * when the files came only under other field names.
 */
export function uploadedImages(request: FastifyRequest): UploadedImage[] {
  const body = request.body;
  if (isMultipartBody(body)) {
    const fields = request.routeOptions.config.intake?.fields ?? ['file'];
    const named = fields.map((f) => `"${f}"`).join(' or ');
    if (body.images.length === 0 && body.elsewhere !== undefined) {
      throw new ResnetServeError('NO_FILE', `No file in the multipart field ${named}: this request sent its file as "${body.elsewhere}" (curl -F ${fields[0]}=@photo.jpg)`);
    }
    // Answering for some photos while silently leaving out others would look like a complete answer.
    if (body.imageElsewhere !== undefined) {
      throw new ResnetServeError('BAD_REQUEST', `This request sent images as "${body.imageElsewhere}" besides ${named}, and only ${named} is read: send every photo as ${fields[0]} (curl -F ${fields[0]}=@a.jpg -F ${fields[0]}=@b.jpg)`);
    }
    return body.images;
  }
  // An empty raw body (any image type, octet-stream, a form: `curl --data-binary @empty.jpg`) is an empty file, as
  // in multipart, not a missing one; decoded as any file, it is IMAGE_EMPTY and counted among the images that failed.
  if (Buffer.isBuffer(body)) return [{ name: 'body', bytes: body }];
  // `curl -T empty.jpg` (a PUT of a file, TorchServe's way): the same.
  if ((body === undefined || body === null) && request.method === 'PUT' && request.headers['content-length'] === '0') return [{ name: 'body', bytes: Buffer.alloc(0) }];
  if (body === undefined || body === null) return [];
  const field = request.routeOptions.config.intake?.fields[0] ?? 'file';
  const type = String(request.headers['content-type'] ?? '').split(';')[0];
  throw new ResnetServeError('UNSUPPORTED_MEDIA_TYPE', `Send images as multipart/form-data (field "${field}") or as an image/* body, not ${type}`);
}

/** Reads `top_k` and `lang` from a query string (`head` is read by the holder, which knows the heads). */
export function queryOptions(query: unknown, defaults: { topK: number; lang: LabelLanguage }): ClassifyOptions {
  const q = (query ?? {}) as Record<string, unknown>;
  const out: ClassifyOptions = { ...defaults };
  if (q.top_k !== undefined) {
    if (typeof q.top_k !== 'string' || !/^\d+$/.test(q.top_k)) throw invalidArgument('top_k', 'an integer', q.top_k);
    out.topK = Number(q.top_k);
  }
  if (q.lang !== undefined) out.lang = q.lang as LabelLanguage;
  return out;
}

/**
 * Runs `work` with a deadline: past `timeoutMs` the request gets TIMEOUT
 * (503), at the end of a shutdown's grace period NOT_READY (503), and
 * whether that happens or the client goes away, the signal aborts so queued
 * work for it is dropped (and a worker still decoding for it is replaced).
 */
export async function withDeadline<T>(reply: FastifyReply, timeoutMs: number, work: (signal: AbortSignal) => Promise<T>, shutdown?: AbortSignal): Promise<T> {
  const controller = new AbortController();
  // Every image of a request listens to this one signal.
  setMaxListeners(0, controller.signal);
  const onClose = (): void => {
    if (!reply.raw.writableFinished) controller.abort(new ResnetServeError('TIMEOUT', 'The client went away'));
  };
  reply.raw.once('close', onClose);
  let timer: NodeJS.Timeout | undefined;
  let onShutdown: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    const end = (err: ResnetServeError): void => {
      controller.abort(err);
      reject(err);
    };
    timer = setTimeout(() => end(new ResnetServeError('TIMEOUT', `The request took longer than ${timeoutMs} ms`)), timeoutMs);
    onShutdown = () => end(shutdown?.reason as ResnetServeError);
    if (shutdown?.aborted) onShutdown();
    else shutdown?.addEventListener('abort', onShutdown, { once: true });
  });
  try {
    return await Promise.race([work(controller.signal), stop]);
  } catch (err) {
    if (controller.signal.aborted && !(err instanceof ResnetServeError)) throw controller.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    if (onShutdown) shutdown?.removeEventListener('abort', onShutdown);
    reply.raw.off('close', onClose);
  }
}

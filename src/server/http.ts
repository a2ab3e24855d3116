/**
 * Helpers every route shares: the service holder with readiness, reading
 * uploaded images, query options, deadlines, and error bodies.
 */
import '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClassificationService } from '../classify/service.js';
import { ResnetServeError, invalidArgument } from '../errors.js';
import type { ClassifyOptions, LabelLanguage } from '../types.js';
import type { ServerLimits } from './options.js';

/** Where the service lives once loaded, and whether the server takes work. */
export class ServiceHolder {
  service: ClassificationService | null = null;
  draining = false;

  get ready(): boolean {
    return this.service !== null && !this.draining;
  }

  /** The service, or NOT_READY while loading or shutting down. */
  require(): ClassificationService {
    if (!this.service) throw new ResnetServeError('NOT_READY', 'The model is still loading; retry shortly');
    if (this.draining) throw new ResnetServeError('NOT_READY', 'The server is shutting down');
    return this.service;
  }
}

/** The JSON error body: a human message and a stable code. */
export function errorBody(err: ResnetServeError): { error: string; code: string } {
  return { error: err.message, code: err.code };
}

/** Sends a typed error with its status (and Retry-After for 503). */
export function sendError(reply: FastifyReply, err: ResnetServeError): FastifyReply {
  if (err.status === 503) reply.header('retry-after', '1');
  return reply.code(err.status).send(errorBody(err));
}

/** An uploaded image and the name it came with. */
export interface UploadedImage {
  name: string;
  bytes: Buffer;
}

/**
 * Reads the images of a request: multipart parts named in `fields` (in upload
 * order), or a raw `image/*` / `application/octet-stream` body.
 */
export async function readImages(request: FastifyRequest, fields: readonly string[], limits: ServerLimits): Promise<UploadedImage[]> {
  if (request.isMultipart()) {
    const images: UploadedImage[] = [];
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue;
      const bytes = await part.toBuffer();
      if (!fields.includes(part.fieldname)) continue;
      if (images.length >= limits.maxFiles) throw new ResnetServeError('TOO_MANY_FILES', `At most ${limits.maxFiles} files per request`);
      images.push({ name: part.filename || part.fieldname, bytes });
    }
    return images;
  }
  if (Buffer.isBuffer(request.body)) return request.body.length ? [{ name: 'body', bytes: request.body }] : [];
  const type = request.headers['content-type'];
  if (type && request.body !== undefined) {
    throw new ResnetServeError('UNSUPPORTED_MEDIA_TYPE', `Send images as multipart/form-data (field "${fields[0]}") or as an image/* body, not ${type.split(';')[0]}`);
  }
  return [];
}

/** Reads `top_k` and `lang` from a query string. */
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
 * (503), and whether it times out or the client goes away, the signal aborts
 * so queued work for it is dropped.
 */
export async function withDeadline<T>(reply: FastifyReply, timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) controller.abort(new ResnetServeError('TIMEOUT', 'The client went away'));
  };
  reply.raw.once('close', onClose);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new ResnetServeError('TIMEOUT', `The request took longer than ${timeoutMs} ms`);
      controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } catch (err) {
    if (controller.signal.aborted && !(err instanceof ResnetServeError)) throw controller.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    reply.raw.off('close', onClose);
  }
}

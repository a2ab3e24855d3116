/**
 * Request bodies of the inference routes, read so that no client can make the
 * server hold more than its bounds, and so that every refusal reaches the
 * client as an answer:
 *
 * - before a byte of the body is read: PAYLOAD_TOO_LARGE (413) when
 *   `Content-Length` says too much (first: it is final, however busy the
 *   server), NOT_READY / QUEUE_FULL (503) when the server has no room,
 *   QUEUE_FULL when the bytes held by all requests would pass
 *   `maxInflightBytes`;
 * - while reading: the whole body (all files, after `Content-Encoding: gzip`
 *   or `deflate` is undone) is bounded by `maxUploadBytes`, so a compression
 *   bomb stops at the limit instead of filling memory;
 * - multipart bodies are parsed here with busboy: only the named file fields
 *   are kept, other parts are skipped without buffering, and a malformed body
 *   (no boundary, truncated, garbage) is a 400;
 * - after a refusal the rest of the body is read and dropped (up to a bound)
 *   on a connection kept open, so clients that send the whole body before
 *   reading the answer (Python's `requests`, Triton's client) see the 413 or
 *   503 instead of a broken pipe.
 */
import busboy, { type Busboy } from 'busboy';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { ResnetServeError } from '../errors.js';
import { looksLikeImage } from '../image/formats.js';
import type { ServiceHolder } from './http.js';
import { exceededJsonBound, type JsonBounds } from './json-bounds.js';
import type { ServerLimits } from './options.js';

/** What a route takes as its body (route `config.intake`). */
export interface IntakeConfig {
  /** Multipart fields whose files are images (others are skipped). */
  fields: readonly string[];
  /** The body carries images for the model: refuse at once when there is no room for one. */
  admit?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    intake?: IntakeConfig;
  }
}

/** An uploaded image and the name it came with. */
export interface UploadedImage {
  name: string;
  bytes: Buffer;
}

/** Form fields (not files) accepted per request; their values are ignored. */
const MAX_FORM_FIELDS = 16;

/** Bytes of request bodies held in memory by all requests together. */
export class InflightBytes {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Reserves `n` bytes, or returns false when they would pass the limit. */
  tryReserve(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  /** Bytes held now. */
  get held(): number {
    return this.used;
  }
}

const megabytes = (bytes: number): string => `${Math.round(bytes / (1024 * 1024))} MB`;

/**
 * The largest JSON body our own routes take (v2 tensors excepted), in bytes:
 * 1000 class names of 100 characters fit however they are escaped.
 */
export const JSON_BODY_LIMIT = 1024 * 1024;

/** What such a body may hold: far more than a head's 1000 class names need, so that too many names is told as such. */
const JSON_BODY_BOUNDS: JsonBounds = { depth: 16, containers: 4096, strings: 65_536 };

/**
 * Reads a JSON or text body for our own small-object routes: at most
 * `JSON_BODY_LIMIT` bytes (413 past it, without reading on), each chunk
 * counted with the uploads' bytes in flight while it is read (503 when they
 * are full).
 */
function readSmallBody(request: FastifyRequest, payload: Readable, inflight: InflightBytes): Promise<Buffer> {
  const declared = declaredLength(request);
  if (declared !== null && declared > JSON_BODY_LIMIT) return Promise.reject(jsonTooLarge(declared));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (err: ResnetServeError | null): void => {
      if (settled) return;
      settled = true;
      payload.off('data', onData);
      inflight.release(size);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > JSON_BODY_LIMIT) return done(jsonTooLarge(null));
      if (!inflight.tryReserve(chunk.length)) return done(busy());
      size += chunk.length;
      chunks.push(chunk);
    };
    payload.on('data', onData);
    payload.once('end', () => done(null));
    payload.once('error', (err: Error) => done(err instanceof ResnetServeError ? err : new ResnetServeError('BAD_REQUEST', `The request body could not be read: ${err.message}`)));
  });
}

function jsonTooLarge(declared: number | null): ResnetServeError {
  // Two decimals, so a body just over the limit never reads as the limit itself ("1.0 MB").
  const size = declared === null ? '' : ` (this one is ${(declared / (1024 * 1024)).toFixed(2)} MB)`;
  return new ResnetServeError('PAYLOAD_TOO_LARGE', `JSON and text request bodies are limited to ${JSON_BODY_LIMIT / (1024 * 1024)} MB${size}; photos go as multipart/form-data or as an image/* body`);
}

/** The answer to a body over the upload limit (or a smaller limit of its route), whatever it holds (files, JSON tensors). */
export function tooLarge(limits: ServerLimits, routeLimit = limits.maxUploadBytes): ResnetServeError {
  if (routeLimit < limits.maxUploadBytes) return new ResnetServeError('PAYLOAD_TOO_LARGE', `The request body is larger than this endpoint's limit of ${routeLimit / 1024} KB`);
  return new ResnetServeError('PAYLOAD_TOO_LARGE', `The request body is larger than the limit of ${megabytes(limits.maxUploadBytes)} (the whole body, every file in it together; the server's --max-upload-mb sets it)`);
}

function busy(): ResnetServeError {
  return new ResnetServeError('QUEUE_FULL', 'The server is receiving as much upload data as it can hold; retry shortly');
}

function declaredLength(request: FastifyRequest): number | null {
  const header = request.headers['content-length'];
  if (header === undefined || request.headers['transfer-encoding'] !== undefined) return null;
  const n = Number(header);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function encodingOf(request: FastifyRequest): 'identity' | 'gzip' | 'deflate' {
  const value = String(request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (value === 'identity' || value === '') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate') return 'deflate';
  throw new ResnetServeError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${JSON.stringify(value)} is not supported; send the body as is, gzip or deflate`);
}

/** A body stream with the count of bytes that arrived on the wire, as Fastify's body reader expects. */
type CountedBody = Transform & { receivedEncodedLength: number };

/**
 * Wraps the raw request: undoes the content encoding, bounds the decoded
 * size, and reserves in-flight bytes as they arrive (when they were not
 * reserved up front). Errors are typed; the caller drops the rest.
 */
function boundedBody(raw: IncomingMessage, encoding: 'identity' | 'gzip' | 'deflate', limits: ServerLimits, reserve: (n: number) => boolean, shutdown: AbortSignal): CountedBody {
  let decoded = 0;
  const body = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      decoded += chunk.length;
      if (decoded > limits.maxUploadBytes) return callback(tooLarge(limits));
      if (!reserve(chunk.length)) return callback(busy());
      callback(null, chunk);
    },
  }) as unknown as CountedBody;
  body.receivedEncodedLength = 0;
  const count = (chunk: Buffer): void => {
    body.receivedEncodedLength += chunk.length;
  };
  raw.on('data', count);
  const decoder = encoding === 'gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : null;
  if (decoder) {
    decoder.on('error', () => body.destroy(new ResnetServeError('BAD_REQUEST', `The request body is not valid ${encoding} data`)));
    raw.pipe(decoder).pipe(body);
  } else {
    raw.pipe(body);
  }
  // A request without a body is answered without reading this stream: its shutdown error must have a listener.
  body.on('error', () => undefined);
  const onShutdown = (): void => {
    body.destroy(new ResnetServeError('NOT_READY', 'The server is shutting down'));
  };
  shutdown.addEventListener('abort', onShutdown, { once: true });
  body.once('close', () => {
    shutdown.removeEventListener('abort', onShutdown);
    raw.off('data', count);
    if (decoder) {
      raw.unpipe(decoder);
      decoder.destroy();
    } else {
      raw.unpipe(body);
    }
  });
  return body;
}

/**
 * After an answer has been chosen while the body is still arriving: read the
 * rest and drop it, so the answer is read by clients that send everything
 * first, and keep the connection. Past `bound` bytes the connection is closed.
 * Resolves at once on a connection kept open; when the client asked to close
 * it (`Connection: close`, as Python's urllib sends), only once the body has
 * been read, since Node closes such a connection as soon as the answer is
 * sent and unread bytes would turn the close into a reset.
 */
export function discardUnreadBody(request: FastifyRequest, reply: FastifyReply, bound: number): Promise<void> {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) return Promise.resolve();
  const declared = declaredLength(request);
  if (declared !== null && declared > bound) {
    reply.header('connection', 'close');
    return Promise.resolve();
  }
  reply.removeHeader('connection');
  let dropped = 0;
  const read = new Promise<void>((resolve) => {
    raw.once('end', resolve).once('close', resolve).once('error', () => resolve());
  });
  raw.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > bound) raw.socket?.destroy();
  });
  raw.resume();
  return clientClosesAfterAnswer(raw) ? read : Promise.resolve();
}

function clientClosesAfterAnswer(raw: IncomingMessage): boolean {
  const connection = (raw.headers.connection ?? '').toLowerCase();
  if (raw.httpVersion === '1.0') return !connection.includes('keep-alive');
  return connection.split(',').some((token) => token.trim() === 'close');
}

/**
 * Adds the body checks to every route with `config.intake`, and the body
 * parsers: multipart (files of the route's fields), `image/*` and
 * `application/octet-stream` (one raw image), and on image routes a body of
 * any other label (a form, as Python's urllib sends it; text; JSON) or none
 * whose bytes are an image.
 */
export function registerIntake(app: FastifyInstance, holder: ServiceHolder, limits: ServerLimits, inflight: InflightBytes): void {
  app.addHook('preParsing', async (request, reply, payload) => {
    const intake = request.routeOptions.config.intake;
    if (!intake) return payload;
    // Too large is final, busy is "retry": a body that can never be taken is told so first, however busy the server.
    const declared = declaredLength(request);
    if (declared !== null && declared > limits.maxUploadBytes) throw tooLarge(limits);
    if (intake.admit) holder.require().ensureCapacity(1);
    const encoding = encodingOf(request);
    let reserved = 0;
    const upfront = encoding === 'identity' && declared !== null;
    if (upfront) {
      if (!inflight.tryReserve(declared)) throw busy();
      reserved = declared;
    }
    reply.raw.once('close', () => inflight.release(reserved));
    const reserve = (n: number): boolean => {
      if (upfront) return true;
      if (!inflight.tryReserve(n)) return false;
      reserved += n;
      return true;
    };
    const body = boundedBody(request.raw, encoding, limits, reserve, holder.shutdownSignal);
    // Unread (no body, or an answer chosen first), it would otherwise stay open, subscribed to the shutdown signal.
    reply.raw.once('close', () => body.destroy());
    return body;
  });

  // Our own API's JSON bodies are small objects (a head's name, up to 1000 class names, training options), parsed
  // on the event loop, and Fastify parses a body before it knows whether the route takes it (a 404, a 415):
  // anything larger or more deeply built is refused unparsed (16 MB of nested JSON arrays held the loop for 9 s),
  // and what is read counts with the uploads' bytes in flight. v2 tensors have their own parser.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', async (request: FastifyRequest, payload: Readable) => {
    if (takesImages(request)) return imageByItsBytes(payload);
    const body = await readSmallBody(request, payload, inflight);
    if (looksLikeImage(body)) throw new ResnetServeError('BAD_REQUEST', 'The body is an image, labelled application/json: this endpoint takes a JSON object');
    if (exceededJsonBound(body, JSON_BODY_BOUNDS)) {
      const { containers, strings, depth } = JSON_BODY_BOUNDS;
      throw new ResnetServeError('BAD_REQUEST', `JSON request bodies here are small objects: at most ${containers} arrays and objects, ${strings} strings, nested ${depth} deep; this one holds more`);
    }
    return new Promise((resolve, reject) => parseJson(request, body.toString('utf8'), (err, parsed) => (err ? reject(err) : resolve(parsed))));
  });
  app.addContentTypeParser('text/plain', async (request: FastifyRequest, payload: Readable) => {
    if (takesImages(request)) return imageByItsBytes(payload);
    return (await readSmallBody(request, payload, inflight)).toString('utf8');
  });
  app.addContentTypeParser('multipart/form-data', (request: FastifyRequest, payload: Readable) => readMultipart(request, payload, limits));
  const raw = { parseAs: 'buffer' as const, bodyLimit: limits.maxUploadBytes };
  app.addContentTypeParser(/^image\/[\w.+-]+$/, raw, (_request, body, done) => done(null, body));
  app.addContentTypeParser('application/octet-stream', raw, (_request, body, done) => done(null, body));
  // Any other label, or none: Python's urllib labels any POST body as a form, Node's fetch sends a Buffer with no
  // Content-Type at all, and cameras and clients send what they send. Read only where an image may be taken (the
  // bounded stream of preParsing above), where a body whose bytes are an image is the image; an unknown route is
  // still a 404 and a JSON route a 415, answered before the body is read.
  app.addContentTypeParser('*', async (request: FastifyRequest, payload: Readable) => {
    if (request.is404) return undefined;
    if (!takesImages(request)) throw unsupportedMediaType();
    return imageByItsBytes(payload);
  });
}

const takesImages = (request: FastifyRequest): boolean => request.routeOptions.config?.intake !== undefined;

/** Fastify's own 415, which the error handler words for the route (how to send an image, or JSON). */
const unsupportedMediaType = (): Error => Object.assign(new Error('Unsupported Media Type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 });

/**
 * The raw body of a route that takes images (callers check), already bounded by preParsing, read whole: the image when its
 * bytes are one (empty, an empty file: IMAGE_EMPTY), else 415.
 */
async function imageByItsBytes(payload: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of payload) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  if (body.length === 0 || looksLikeImage(body)) return body;
  throw unsupportedMediaType();
}

/** Multipart body: the files of the route's image fields, in upload order. */
export interface MultipartBody {
  readonly kind: 'multipart';
  images: UploadedImage[];
  /** The first field that carried a file this route does not read (`image` where it reads `file`). */
  elsewhere?: string;
  /** The first such field whose file was labelled an image: a photo that would be left out. */
  imageElsewhere?: string;
}

function readMultipart(request: FastifyRequest, payload: Readable, limits: ServerLimits): Promise<MultipartBody> {
  const fields = request.routeOptions.config.intake?.fields ?? [];
  return new Promise((resolve, reject) => {
    let parser: Busboy;
    try {
      parser = busboy({
        headers: request.headers,
        // Parts without a filename arrive as fields: latin1 keeps their bytes, so an image sent that way
        // (curl -F 'data=<photo.jpg') is still an image. The whole request is bounded before this.
        defCharset: 'latin1',
        // File names: browsers and curl send them as raw UTF-8 (RFC 7578), not busboy's default latin1.
        defParamCharset: 'utf8',
        limits: { files: limits.maxFiles + MAX_FORM_FIELDS, fields: MAX_FORM_FIELDS, parts: limits.maxFiles + 2 * MAX_FORM_FIELDS, fieldSize: limits.maxUploadBytes, headerPairs: 64 },
      });
    } catch (err) {
      reject(new ResnetServeError('BAD_REQUEST', `Malformed multipart/form-data request: ${(err as Error).message}`));
      return;
    }
    const slots: (UploadedImage | null)[] = [];
    let elsewhere: string | undefined;
    let imageElsewhere: string | undefined;
    let settled = false;
    let parsed = false;
    let reading = 0;
    const finish = (): void => {
      if (settled || !parsed || reading > 0) return;
      settled = true;
      resolve({ kind: 'multipart', images: slots.filter((s): s is UploadedImage => s !== null), elsewhere, imageElsewhere });
    };
    const fail = (err: ResnetServeError): void => {
      if (settled) return;
      settled = true;
      payload.unpipe(parser);
      reject(err);
    };
    parser.on('file', (field, file, { filename, mimeType }) => {
      // A part cut short errors here too; the parser's own error settles the request.
      file.on('error', () => undefined);
      if (settled || !fields.includes(field)) {
        elsewhere ??= field;
        if (/^image\//i.test(mimeType)) imageElsewhere ??= field;
        file.resume();
        return;
      }
      if (slots.length >= limits.maxFiles) {
        file.resume();
        fail(new ResnetServeError('TOO_MANY_FILES', `At most ${limits.maxFiles} files per request (the server's --max-files sets it)`));
        return;
      }
      const slot = slots.push(null) - 1;
      const chunks: Buffer[] = [];
      reading++;
      file.on('data', (chunk: Buffer) => chunks.push(chunk));
      file.on('end', () => {
        slots[slot] = { name: filename || field, bytes: Buffer.concat(chunks) };
        reading--;
        finish();
      });
    });
    parser.on('field', (field, value: string) => {
      // An option sent as a form field (curl -F top_k=2) would be ignored: said, with where it goes.
      if (!settled && request.routeOptions.config.query?.includes(field)) {
        return fail(new ResnetServeError('BAD_REQUEST', `${field} goes in the URL's query (?${field}=${encodeURIComponent(value.slice(0, 40))}), not in the form`));
      }
      if (settled || !fields.includes(field)) return;
      if (slots.length >= limits.maxFiles) return fail(new ResnetServeError('TOO_MANY_FILES', `At most ${limits.maxFiles} files per request (the server's --max-files sets it)`));
      slots.push({ name: field, bytes: Buffer.from(value, 'latin1') });
    });
    parser.on('filesLimit', () => fail(new ResnetServeError('TOO_MANY_FILES', `At most ${limits.maxFiles} files per request (the server's --max-files sets it)`)));
    parser.on('fieldsLimit', () => fail(new ResnetServeError('TOO_MANY_FILES', `At most ${MAX_FORM_FIELDS} form fields per request`)));
    parser.on('partsLimit', () => fail(new ResnetServeError('TOO_MANY_FILES', `At most ${limits.maxFiles + 2 * MAX_FORM_FIELDS} parts per request`)));
    parser.on('error', (err: Error) => fail(new ResnetServeError('BAD_REQUEST', `Malformed multipart/form-data body: ${err.message}`)));
    parser.on('close', () => {
      parsed = true;
      finish();
    });
    payload.on('error', (err) => fail(err instanceof ResnetServeError ? err : new ResnetServeError('BAD_REQUEST', `The request body could not be read: ${err.message}`)));
    payload.pipe(parser);
  });
}

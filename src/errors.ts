/**
 * The one error type of resnet-serve. Every failure a user can cause or meet
 * (bad image, missing weights, hostile checkpoint, bad option) is a
 * {@link ResnetServeError} with a stable `code`; the HTTP layer maps the code
 * to a status, the CLI prints the message without a stack trace.
 */
import { closestNames } from './similar-names.js';

/** Stable error codes, grouped by where they arise. */
export const ErrorCodes = {
  /** An option or argument has the wrong type or value. */
  INVALID_ARGUMENT: 400,
  /** A search word too short to mean anything (one Latin letter). */
  QUERY_TOO_SHORT: 400,
  /** A search word with nothing to search for in it (only punctuation, such as `%` or `_`). */
  QUERY_NO_WORDS: 400,
  /** The input is empty. */
  IMAGE_EMPTY: 400,
  /** The bytes are not an image in a format we decode. */
  IMAGE_UNSUPPORTED: 415,
  /** The image header or data is damaged or truncated. */
  IMAGE_CORRUPT: 422,
  /** The image declares more pixels than the configured limit. */
  IMAGE_TOO_LARGE: 422,
  /** The image needs more decoding work than one image may take (e.g. a progressive JPEG with thousands of scans). */
  IMAGE_TOO_COMPLEX: 422,
  /** No model file where one was expected, and none could be fetched. */
  MODEL_NOT_FOUND: 503,
  /** The downloaded weights do not have the expected SHA-256. */
  MODEL_CHECKSUM: 503,
  /** The checkpoint or ONNX file is malformed, or is not a model we can run. */
  MODEL_INVALID: 503,
  /** A checkpoint asked for a Python global we refuse to resolve. */
  PICKLE_FORBIDDEN: 503,
  /** A checkpoint's pickle stream is malformed, truncated or too large. */
  PICKLE_INVALID: 503,
  /** The model cannot give what was asked: no embedding or feature map could be found in its graph. */
  OUTPUT_UNAVAILABLE: 422,
  /** Inference failed inside ONNX Runtime. */
  INFERENCE_FAILED: 500,
  /** A file or folder could not be read or written. */
  IO_ERROR: 500,
  /** An existing XMP sidecar is not well-formed, so it is left untouched. */
  SIDECAR_INVALID: 422,
  /** No photo index where one was named (`--db`), or a file that is not one. */
  INDEX_NOT_FOUND: 404,
  /** The photo index is damaged (SQLite found it corrupt while reading it). */
  INDEX_DAMAGED: 500,
  /** An upload request carried no image. */
  NO_FILE: 400,
  /** A request is malformed (bad JSON, wrong tensor shape, bad parameter). */
  BAD_REQUEST: 400,
  /** The API key is missing or wrong. */
  UNAUTHORIZED: 401,
  /** No such route, model or file. */
  NOT_FOUND: 404,
  /** The route exists, for other methods (the Allow header lists them). */
  METHOD_NOT_ALLOWED: 405,
  /** The name is taken (a head of that name exists). */
  CONFLICT: 409,
  /** The name is one the server keeps for itself (a model's, or v2's `stats`). */
  NAME_RESERVED: 409,
  /** The request body is above the upload limit. */
  PAYLOAD_TOO_LARGE: 413,
  /** More files in one request than allowed. */
  TOO_MANY_FILES: 413,
  /** A head was asked to answer before it was trained. */
  HEAD_NOT_TRAINED: 409,
  /** The photo is in that class of the head already. */
  ALREADY_ADDED: 409,
  /** The request's headers are larger than the server reads. */
  HEADERS_TOO_LARGE: 431,
  /** The client did not send the request in time. */
  REQUEST_TIMEOUT: 408,
  /** The request's Content-Type is not one we accept. */
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** The model is still loading, or the server is shutting down. */
  NOT_READY: 503,
  /** The inference queue is full; retry later. */
  QUEUE_FULL: 503,
  /** The request did not finish within its deadline. */
  TIMEOUT: 503,
  /** An unexpected failure; details are in the server log. */
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** The error type thrown by every module of resnet-serve. */
export class ResnetServeError extends Error {
  readonly code: ErrorCode;
  /** HTTP status that fits this error. */
  readonly status: number;
  /** Facts an API client can act on, sent beside `error` and `code` (e.g. `refused`: each photo and its reason). */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options);
    this.name = 'ResnetServeError';
    this.code = code;
    this.status = ErrorCodes[code];
    if (options?.details) this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** True when `err` is a {@link ResnetServeError}, optionally with the given code. */
export function isResnetServeError(err: unknown, code?: ErrorCode): err is ResnetServeError {
  return err instanceof ResnetServeError && (code === undefined || err.code === code);
}

/** Describes a received value for an error message: type and a short rendering. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (value instanceof Uint8Array) return `a Uint8Array of ${value.length} bytes`;
  if (value instanceof ArrayBuffer) return `an ArrayBuffer of ${value.byteLength} bytes`;
  if (value instanceof URL) return `URL ${JSON.stringify(value.href.length > 60 ? value.href.slice(0, 60) + '…' : value.href)}`;
  return typeof value;
}

/** Builds the INVALID_ARGUMENT error for a parameter: names it, what was expected and what came. */
export function invalidArgument(name: string, expected: string, received: unknown): ResnetServeError {
  return new ResnetServeError('INVALID_ARGUMENT', `Expected ${expected} for ${name} but received ${describeValue(received)}`);
}

/**
 * Throws INVALID_ARGUMENT when `options` is not an object (`null` from plain
 * JavaScript), or for its first key that is not one of `known` (`{ topk: 2 }`:
 * a misspelt option is a mistake to name, not a setting to ignore), with the
 * option it was probably meant to be.
 */
export function refuseUnknownOptions(options: unknown, known: readonly string[], of: string): void {
  if (options === null || typeof options !== 'object') throw invalidArgument('options', 'an object', options);
  const unknown = Object.keys(options).find((key) => !known.includes(key));
  if (unknown === undefined) return;
  const like = closestNames(unknown, known);
  throw new ResnetServeError('INVALID_ARGUMENT', `Unknown option ${JSON.stringify(unknown)} of ${of}${like.length ? ` (did you mean ${like.join(' or ')}?)` : ''}; its options are ${known.join(', ')}`);
}


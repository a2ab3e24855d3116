/** Server settings, validated up front, with their defaults. */
import { invalidArgument } from '../errors.js';

/** Limits on what one request may ask for. */
export interface ServerLimits {
  /** Largest request body in bytes (uploads). Default 20 MB. */
  maxUploadBytes: number;
  /** Most image files in one request. Default 32. */
  maxFiles: number;
  /** Deadline of one request in milliseconds; past it the answer is 503. Default 30 s. */
  requestTimeoutMs: number;
  /** A client must send all request headers within this (slow-header attacks). Default 10 s. */
  headersTimeoutMs: number;
  /** A client must send the whole request, body included, within this (slow or stalled uploads). Default 60 s. */
  bodyTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. Default 5 s. */
  keepAliveTimeoutMs: number;
  /** Request bodies held in memory by all requests together; beyond it new uploads get 503 before they are read. Default 128 MB. */
  maxInflightBytes: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxUploadBytes: 20 * 1024 * 1024,
  maxFiles: 32,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxInflightBytes: 128 * 1024 * 1024,
};

/** Who may call the API. */
export interface AccessOptions {
  /** When set, every endpoint but health checks and the page needs `Authorization: Bearer <key>` (see `keyFor`). */
  apiKey?: string;
  /**
   * What the key guards: `all` (default) every endpoint but health checks and the page; `changes` only what
   * changes the server (making, teaching, training and deleting heads), so that anyone may recognise photos
   * and use the heads while only the key's holder changes them (a classroom).
   */
  keyFor?: 'all' | 'changes';
  /** Origins allowed to call the API from a browser (CORS). None by default. */
  corsOrigins?: string[];
}

/** The longest delay Node's timers take (about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const TIME_LIMITS: readonly (keyof ServerLimits)[] = ['requestTimeoutMs', 'headersTimeoutMs', 'bodyTimeoutMs', 'keepAliveTimeoutMs'];

/**
 * Merges `limits` over the defaults and checks each value. The headers must
 * arrive within the time for the whole request: a body timeout below the
 * default headers timeout lowers that too, and both given the other way
 * round are refused.
 */
export function resolveLimits(limits: Partial<ServerLimits> = {}): ServerLimits {
  const out = { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) } as ServerLimits;
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[]) {
    if (!Number.isInteger(out[key]) || out[key] < 1) throw invalidArgument(key, 'a positive integer', out[key]);
    if (TIME_LIMITS.includes(key) && out[key] > MAX_TIMER_MS) throw invalidArgument(key, `at most ${MAX_TIMER_MS} ms (Node's longest timer, about 24.8 days)`, out[key]);
  }
  if (out.headersTimeoutMs > out.bodyTimeoutMs) {
    if (limits.headersTimeoutMs !== undefined) throw invalidArgument('headersTimeoutMs', `at most bodyTimeoutMs (${out.bodyTimeoutMs}): the headers are part of the request`, out.headersTimeoutMs);
    out.headersTimeoutMs = out.bodyTimeoutMs;
  }
  return out;
}

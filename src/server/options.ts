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
}

export const DEFAULT_LIMITS: ServerLimits = { maxUploadBytes: 20 * 1024 * 1024, maxFiles: 32, requestTimeoutMs: 30_000 };

/** Merges `limits` over the defaults and checks each value. */
export function resolveLimits(limits: Partial<ServerLimits> = {}): ServerLimits {
  const out = { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) } as ServerLimits;
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[]) {
    if (!Number.isInteger(out[key]) || out[key] < 1) throw invalidArgument(key, 'a positive integer', out[key]);
  }
  return out;
}

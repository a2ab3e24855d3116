/**
 * The request log (`--log`): one JSON line per request, written when its
 * answer has gone (or its client left), with what an operator greps for:
 * method, URL, route, status, milliseconds and, for a refusal, its `code`
 * and sentence; pino adds the time and `reqId` (the caller's X-Request-Id).
 * 5xx lines are at `warn`. Probes and metric scrapes come every few seconds:
 * logged only when they fail (a 503 probe, a scrape without the key).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

const refusals = new WeakMap<FastifyRequest, { code: string; error: string }>();

/** Remembers the typed error a request was answered with, for its log line. */
export function recordRefusal(request: FastifyRequest, err: { code: string; message: string }): void {
  refusals.set(request, { code: err.code, error: err.message });
}

/** The error code `request` was answered with, if it was refused. */
export function refusalCode(request: FastifyRequest): string | undefined {
  return refusals.get(request)?.code;
}

// None of our query parameters is a secret; a caller's `?api_key=…` or `?token=…` must still not reach the log.
const SECRET_NAME = /key|token|secret|passw|auth|sig|credential/i;

/** `url` as logged: the value of a query parameter named like a secret replaced by `[redacted]`. */
export function logUrl(url: string | undefined): string | undefined {
  const q = url?.indexOf('?') ?? -1;
  if (url === undefined || q < 0) return url;
  const pairs = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    return eq >= 0 && SECRET_NAME.test(pair.slice(0, eq)) ? `${pair.slice(0, eq)}=[redacted]` : pair;
  });
  return `${url.slice(0, q)}?${pairs.join('&')}`;
}

/**
 * Writes `request`'s one line (nothing without a logger, nor for a quiet
 * route's success). `status` is the answer's, or 499 when the client left first.
 */
export function logRequest(request: FastifyRequest, reply: FastifyReply, route: string, quiet: boolean, status = reply.statusCode): void {
  if (quiet && status < 400) return;
  const line = { method: request.method, url: logUrl(request.url), route, status, ms: Math.round(reply.elapsedTime * 10) / 10, ...refusals.get(request) };
  if (status >= 500) request.log.warn(line, 'request');
  else request.log.info(line, 'request');
}

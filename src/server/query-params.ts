/**
 * Query parameters a route takes (route `config.query`; none for our own
 * routes, `/predict` and `/v1/…`, that declare nothing): any other is
 * refused with 400 naming it and the ones the route takes, so a typo such as
 * `?topk=1` is not silently answered with the defaults. Routes of other
 * servers' protocols (TorchServe, KServe v2), the page and the probes are not
 * checked, as those servers do not check them either.
 */
import type { FastifyRequest } from 'fastify';
import { ResnetServeError } from '../errors.js';
import { closestNames } from '../similar-names.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The query parameters this route takes (default: none on our own routes, any on others). */
    query?: readonly string[];
  }
}

/** Throws INVALID_ARGUMENT when the request has a query parameter its route does not take, or one of them twice. */
export function checkQueryParams(request: FastifyRequest): void {
  const route = request.routeOptions.url ?? '';
  const accepted = request.routeOptions.config.query ?? (route === '/predict' || route.startsWith('/v1/') ? [] : null);
  if (!accepted) return;
  const query = (request.query ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(query).filter((name) => !accepted.includes(name));
  if (unknown.length === 0) {
    const repeated = Object.keys(query).find((name) => Array.isArray(query[name]));
    if (repeated !== undefined) throw new ResnetServeError('INVALID_ARGUMENT', `Query parameter "${repeated}" is given ${(query[repeated] as unknown[]).length} times; give it once`);
    return;
  }
  const [first] = unknown;
  const [near] = closestNames(first, accepted);
  const takes = accepted.length ? `it takes ${accepted.join(', ')}` : 'it takes none';
  const hint = near ? ` (did you mean ${near}?)` : '';
  const path = request.url.split('?')[0];
  throw new ResnetServeError('INVALID_ARGUMENT', `Unknown query parameter "${first}"${hint} for ${request.method} ${path}: ${takes}`);
}

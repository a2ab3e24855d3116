/**
 * The gallery's API (`serve --library DIR`), read-only:
 * - `GET /v1/library`: folders, photo count, categories with counts;
 * - `GET /v1/library/photos?q=&category=&limit=&offset=`: search (same as the
 *   CLI), a category, or every photo;
 * - `GET /v1/library/photos/{id}`, `…/like`, `…/thumbnail?size=320|1024`;
 * - `GET /v1/library/duplicates`.
 */
import type { FastifyInstance } from 'fastify';
import { ResnetServeError, invalidArgument } from '../../errors.js';
import type { LibraryService } from '../library.js';

type Query = Record<string, string | undefined>;
type IdParams = { id: string };

function photoId(value: string): number {
  if (!/^\d{1,12}$/.test(value)) throw new ResnetServeError('BAD_REQUEST', `A photo id is a number, got ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value);
}

function count(query: Query, name: string, fallback: number, range: { min: number; max: number }): number {
  const raw = query[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < range.min || n > range.max) throw invalidArgument(name, `an integer from ${range.min} to ${range.max}`, raw);
  return n;
}

export function libraryRoutes(app: FastifyInstance, library: LibraryService | null): void {
  const need = (): LibraryService => {
    if (!library) throw new ResnetServeError('NOT_FOUND', 'This server has no photo library (start it with serve --library DIR)');
    return library;
  };
  app.get('/v1/library', async () => need().summary());
  app.get<{ Querystring: Query }>('/v1/library/photos', { config: { query: ['q', 'category', 'limit', 'offset'] } }, async (request) => {
    const q = request.query;
    return need().photos({ q: q.q, category: q.category || undefined, limit: count(q, 'limit', 60, { min: 1, max: 500 }), offset: count(q, 'offset', 0, { min: 0, max: 10_000_000 }) });
  });
  app.get<{ Params: IdParams }>('/v1/library/photos/:id', async (request) => need().photo(photoId(request.params.id)));
  app.get<{ Params: IdParams; Querystring: Query }>('/v1/library/photos/:id/like', { config: { query: ['limit'] } }, async (request) => ({
    photos: await need().like(photoId(request.params.id), count(request.query, 'limit', 12, { min: 1, max: 100 })),
  }));
  app.get<{ Params: IdParams; Querystring: Query }>('/v1/library/photos/:id/thumbnail', { config: { query: ['size', 'v'] } }, async (request, reply) => {
    const jpeg = await need().thumbnail(photoId(request.params.id), count(request.query, 'size', 320, { min: 0, max: 4096 }));
    return reply.headers({ 'content-type': 'image/jpeg', 'cache-control': 'private, max-age=3600' }).send(jpeg);
  });
  app.get('/v1/library/duplicates', async () => ({ groups: await need().duplicates() }));
}

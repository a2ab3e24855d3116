/**
 * The web page: a fixed set of files from `web/`, read once, served with a
 * strict Content-Security-Policy (no inline script, nothing from other
 * origins). Only the names listed here are served, so no path can escape.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const WEB_DIR = new URL('../../../web/', import.meta.url);

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/common.js': { file: 'common.js', type: 'text/javascript; charset=utf-8' },
  '/cards.js': { file: 'cards.js', type: 'text/javascript; charset=utf-8' },
  '/errors.js': { file: 'errors.js', type: 'text/javascript; charset=utf-8' },
  '/teach.js': { file: 'teach.js', type: 'text/javascript; charset=utf-8' },
  '/training-report.js': { file: 'training-report.js', type: 'text/javascript; charset=utf-8' },
  '/upload-batches.js': { file: 'upload-batches.js', type: 'text/javascript; charset=utf-8' },
  '/thumbnails.js': { file: 'thumbnails.js', type: 'text/javascript; charset=utf-8' },
  '/library.js': { file: 'library.js', type: 'text/javascript; charset=utf-8' },
  '/enlarge.js': { file: 'enlarge.js', type: 'text/javascript; charset=utf-8' },
  '/card-picture.js': { file: 'card-picture.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/icon.svg': { file: 'icon.svg', type: 'image/svg+xml' },
};

/** The page's own paths (open even with an API key: the page asks for the key itself). */
export const PAGE_PATHS: readonly string[] = Object.keys(FILES);

/** Headers for every page asset. */
const PAGE_SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export function webRoutes(app: FastifyInstance): void {
  for (const [path, { file, type }] of Object.entries(FILES)) {
    const body = readFileSync(new URL(file, WEB_DIR));
    app.get(path, async (_request, reply) => reply.headers({ ...PAGE_SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-cache' }).send(body));
  }
}

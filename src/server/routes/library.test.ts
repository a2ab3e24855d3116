/** The gallery's API: search, categories, photos, look-alikes, duplicates, thumbnails; read-only; nothing outside the library. */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ClassificationService } from '../../classify/service.js';
import { CategoryMap } from '../../library/categories.js';
import { TagIndex } from '../../library/index-db.js';
import { tagFolders } from '../../library/tagger.js';
import { startTestService, testPhoto } from '../../testing/fixtures.js';
import { buildApp, type ResnetApp } from '../app.js';
import { LibraryService } from '../library.js';
import { scratchDir } from '../../testing/scratch.js';

let service: ClassificationService;
let app: ResnetApp;
let dir: string;
let outside: string;
let db: string;
let snapshot: string;

/** Every file under a folder with its size and mtime: the library must not change. */
function listing(root: string): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else out.push(`${p} ${s.size} ${s.mtimeMs}`);
    }
  };
  walk(root);
  return out.join('\n');
}

before(async () => {
  service = await startTestService();
  dir = await scratchDir('rs-gallery-');
  outside = await scratchDir('rs-outside-');
  mkdirSync(join(dir, 'Trip'));
  for (let i = 0; i < 8; i++) writeFileSync(join(dir, i % 2 ? 'Trip' : '', `IMG_${i}.jpg`), await testPhoto(i + 3, 320, 240));
  writeFileSync(join(dir, 'copy.jpg'), readFileSync(join(dir, 'IMG_0.jpg')));
  writeFileSync(join(dir, 'Trip', 'scan.bmp'), await testPhoto(12, 160, 120, 'bmp'));
  writeFileSync(join(outside, 'secret.jpg'), await testPhoto(90, 320, 240));
  db = join(await scratchDir('rs-gallery-db-'), 'tags.sqlite');
  const index = TagIndex.create(db);
  await tagFolders(service, index, { roots: [dir], settings: { topK: 5, minScore: 0 }, lang: 'both', xmp: false, categories: CategoryMap.imagenet(), jobs: 2 });
  index.close();
  snapshot = listing(dir);
  app = await buildApp({ service, processMetrics: false, library: LibraryService.open(db, service.cacheDir) });
});
after(async () => {
  await app?.close();
  await service?.close();
});

describe('the gallery API', () => {
  test('the library, its categories, its photos a page at a time, by words and by category', async () => {
    const summary = (await app.inject('/v1/library')).json();
    assert.equal(summary.photos, 10);
    assert.ok(summary.categories.length > 0 && summary.categories.every((c: { en: string; zh: string; photos: number }) => c.en && c.zh && c.photos > 0));
    const page = (await app.inject('/v1/library/photos?limit=4')).json();
    assert.equal(page.total, 10);
    assert.equal(page.photos.length, 4);
    assert.ok(page.photos.every((p: { path: string }) => !p.path.startsWith('/')), 'paths relative to the library');
    const next = (await app.inject('/v1/library/photos?limit=4&offset=8')).json();
    assert.equal(next.photos.length, 2);
    const label = page.photos[0].labels[0].en as string;
    const found = (await app.inject(`/v1/library/photos?q=${encodeURIComponent(label)}`)).json();
    assert.ok(found.total >= 1 && found.photos[0].matched.length > 0, JSON.stringify(found).slice(0, 200));
    // Each category shows as many photos as the summary counts for it (those whose first category it is).
    for (const c of summary.categories as { en: string; zh: string; photos: number }[]) {
      for (const name of [c.en, c.zh]) {
        const inCategory = (await app.inject(`/v1/library/photos?category=${encodeURIComponent(name)}&limit=100`)).json();
        assert.equal(inCategory.total, c.photos, `${name}: ${JSON.stringify(inCategory).slice(0, 200)}`);
        assert.equal(inCategory.photos.length, c.photos);
      }
    }
    const first = summary.categories[0] as { en: string; photos: number };
    assert.equal((await app.inject(`/v1/library/photos?category=${encodeURIComponent(first.en.toUpperCase())}`)).json().total, first.photos, 'category names in any case');
    assert.equal((summary.categories as { photos: number }[]).reduce((n, c) => n + c.photos, 0) >= 10, true);
    const unknown = (await app.inject('/v1/library/photos?q=zzxqv')).json();
    assert.deepEqual(unknown.unknown, ['zzxqv']);
    assert.deepEqual(unknown.suggestions, {});
    assert.deepEqual((await app.inject('/v1/library/photos?q=dgo')).json().suggestions, { dgo: 'dog' });
  });

  test('a photo, its look-alikes (its copy first), duplicates, thumbnails cached outside the library', async () => {
    const all = (await app.inject('/v1/library/photos?limit=100')).json().photos as { id: number; path: string }[];
    const original = all.find((p) => p.path === 'IMG_0.jpg') as { id: number };
    const photo = (await app.inject(`/v1/library/photos/${original.id}`)).json();
    assert.ok(photo.labels.length > 0 && photo.categories.length > 0);
    const like = (await app.inject(`/v1/library/photos/${original.id}/like?limit=3`)).json().photos;
    assert.equal(like[0].path, 'copy.jpg');
    // The content version names the bytes: the page caches thumbnails under it, so an edited photo shows anew.
    assert.match(photo.version, /^[0-9a-f]{12}$/);
    assert.equal(like[0].version, photo.version, 'an exact copy has the same content version');
    assert.ok(all.every((p) => /^[0-9a-f]{12}$/.test((p as { version?: string }).version ?? '')));
    assert.ok(like[0].similarity > 0.99);
    const groups = (await app.inject('/v1/library/duplicates')).json().groups;
    assert.ok(groups.some((g: { kind: string; photos: { path: string }[] }) => g.kind === 'exact' && g.photos.map((p) => p.path).sort().join() === 'IMG_0.jpg,copy.jpg'));
    for (const size of [320, 1024]) {
      const thumb = await app.inject(`/v1/library/photos/${original.id}/thumbnail?size=${size}`);
      assert.equal(thumb.statusCode, 200);
      assert.equal(thumb.headers['content-type'], 'image/jpeg');
      assert.equal(thumb.rawPayload[0], 0xff);
    }
    // A BMP, which libvips cannot read, is drawn through our own decoder.
    const scan = all.find((p) => p.path === join('Trip', 'scan.bmp')) as { id: number };
    const bmpThumb = await app.inject(`/v1/library/photos/${scan.id}/thumbnail?size=320`);
    assert.equal(bmpThumb.statusCode, 200, bmpThumb.body);
    assert.equal(bmpThumb.rawPayload[0], 0xff);
    assert.ok(readdirSync(join(service.cacheDir, 'thumbnails')).length >= 3);
    assert.equal(listing(dir), snapshot, 'the library is unchanged: no thumbnail, sidecar or index was written into it');
  });

  test('nothing outside the library is ever served: ids only, and a photo swapped for a link to elsewhere is refused', async () => {
    for (const url of ['/v1/library/photos/..%2F..%2Fetc%2Fpasswd/thumbnail', '/v1/library/photos/-1', '/v1/library/photos/1e3', '/v1/library/photos/%2Fetc%2Fpasswd']) {
      const res = await app.inject(url);
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
    }
    assert.equal((await app.inject('/v1/library/photos/999999')).statusCode, 404);
    assert.equal((await app.inject('/v1/library/photos/1/thumbnail?size=77')).statusCode, 400);
    // Every bad count says the same range, and look-alikes refuse 0 as well.
    for (const limit of ['0', '-1', '501', 'abc']) {
      const res = await app.inject(`/v1/library/photos?limit=${limit}`);
      assert.equal(res.statusCode, 400);
      assert.match(res.json().error, /Expected an integer from 1 to 500 for limit/);
    }
    assert.equal((await app.inject('/v1/library/photos/1/like?limit=0')).statusCode, 400);
    // After tagging, a photo is replaced by a link to a file outside the library.
    const all = (await app.inject('/v1/library/photos?limit=100')).json().photos as { id: number; path: string }[];
    const victim = all.find((p) => p.path === join('Trip', 'IMG_1.jpg')) as { id: number };
    rmSync(join(dir, 'Trip', 'IMG_1.jpg'));
    symlinkSync(join(outside, 'secret.jpg'), join(dir, 'Trip', 'IMG_1.jpg'));
    try {
      const res = await app.inject(`/v1/library/photos/${victim.id}/thumbnail?size=1024`);
      assert.equal(res.statusCode, 404);
      assert.match(res.json().error, /not inside the library/);
    } finally {
      rmSync(join(dir, 'Trip', 'IMG_1.jpg'));
      writeFileSync(join(dir, 'Trip', 'IMG_1.jpg'), await testPhoto(4, 320, 240));
    }
  });

  test('a photo tagged through a link to a file outside the library is listed by its name, never by where it is on the server, and shown', async () => {
    const linked = await scratchDir('rs-gallery-linked-');
    symlinkSync(join(outside, 'secret.jpg'), join(linked, 'holiday.jpg'));
    const linkedDb = join(await scratchDir('rs-gallery-linked-db-'), 'tags.sqlite');
    const index = TagIndex.create(linkedDb);
    await tagFolders(service, index, { roots: [linked], settings: { topK: 5, minScore: 0 }, lang: 'both', xmp: false, categories: CategoryMap.imagenet(), jobs: 1 });
    index.close();
    const gallery = await buildApp({ service, processMetrics: false, library: LibraryService.open(linkedDb, service.cacheDir) });
    try {
      const body = (await gallery.inject('/v1/library/photos?limit=10')).body;
      const photos = JSON.parse(body).photos as { path: string }[];
      assert.equal(photos.length, 1, body);
      assert.equal(photos[0].path, '…/secret.jpg');
      assert.ok(!body.includes(outside), body);
      // The owner linked it in: the very file tagged is shown.
      const { id } = JSON.parse(body).photos[0] as { id: number };
      const thumbnail = await gallery.inject(`/v1/library/photos/${id}/thumbnail?size=320`);
      assert.deepEqual([thumbnail.statusCode, thumbnail.headers['content-type']], [200, 'image/jpeg'], thumbnail.body);
    } finally {
      await gallery.close();
    }
  });

  test('a photo deleted since it was tagged is not shown, even from the thumbnail cache', async () => {
    const all = (await app.inject('/v1/library/photos?limit=100')).json().photos as { id: number; path: string }[];
    const photo = all.find((p) => p.path === 'IMG_2.jpg') as { id: number };
    const bytes = readFileSync(join(dir, 'IMG_2.jpg'));
    assert.equal((await app.inject(`/v1/library/photos/${photo.id}/thumbnail?size=320`)).statusCode, 200);
    rmSync(join(dir, 'IMG_2.jpg'));
    try {
      assert.equal((await app.inject(`/v1/library/photos/${photo.id}/thumbnail?size=320`)).statusCode, 404);
    } finally {
      writeFileSync(join(dir, 'IMG_2.jpg'), bytes);
    }
    assert.equal((await app.inject(`/v1/library/photos/${photo.id}/thumbnail?size=320`)).statusCode, 200, 'shown again once it is back');
  });

  test('without a library the routes say how to get one; with an API key they need it', async () => {
    const none = await buildApp({ service, processMetrics: false });
    try {
      const res = await none.inject('/v1/library');
      assert.equal(res.statusCode, 404);
      assert.match(res.json().error, /serve --library DIR/);
      // The page learns whether there is a library from /v1/models, without a 404 in the browser's console.
      assert.equal((await none.inject('/v1/models')).json().library, false);
      assert.equal((await app.inject('/v1/models')).json().library, true);
    } finally {
      await none.close();
    }
    const locked = await buildApp({ service, processMetrics: false, access: { apiKey: 'gallery-key-123' }, library: LibraryService.open(db, service.cacheDir) });
    try {
      assert.equal((await locked.inject('/v1/library/photos')).statusCode, 401);
      assert.equal((await locked.inject({ url: '/v1/library/photos', headers: { authorization: 'Bearer gallery-key-123' } })).statusCode, 200);
    } finally {
      await locked.close();
    }
    assert.throws(() => LibraryService.open(join(dir, 'nope.sqlite'), service.cacheDir), /No photo index at .*resnet-serve tag/);
  });
});

/** Query parameters: a typo is refused with the names the route takes, and every documented one is taken. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ClassificationService } from '../classify/service.js';
import { multipartBody, startTestService, testPhoto } from '../testing/fixtures.js';
import { buildApp, type ResnetApp } from './app.js';

let service: ClassificationService;
let app: ResnetApp;
let photo: Buffer;

before(async () => {
  service = await startTestService();
  app = await buildApp({ service, processMetrics: false });
  photo = await testPhoto(2);
});
after(async () => {
  await app.close();
  await service.close();
});

const upload = (url: string) => app.inject({ method: 'POST', url, ...multipartBody([{ field: 'file', filename: 'a.jpg', type: 'image/jpeg', data: photo }]) });

describe('query parameters', () => {
  test('a misspelt one is refused, naming it, the likely one and what the route takes', async () => {
    const res = await upload('/predict?topk=1');
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'INVALID_ARGUMENT');
    assert.match(res.json().error, /"topk" \(did you mean top_k\?\) for POST \/predict: it takes top_k, lang, head/);
    const embed = await upload('/v1/embed?top_k=1');
    assert.match(embed.json().error, /"top_k" for POST \/v1\/embed: it takes none/);
    // The next request on the same route is answered.
    const ok = await upload('/predict?top_k=1');
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().length, 1);
  });

  test('one given twice is refused with 400 (the library route read ?q=dog&q=cat as a list and answered 500)', async () => {
    for (const url of ['/predict?top_k=1&top_k=2', '/v1/library/photos?q=dog&q=cat', '/v1/library/photos?category=a&category=b']) {
      const res = url.startsWith('/predict') ? await upload(url) : await app.inject(url);
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.match(res.json().error, /"(top_k|q|category)" is given 2 times; give it once/);
    }
  });

  test('other servers\' protocols take any, as those servers do', async () => {
    const res = await app.inject({ method: 'POST', url: `/predictions/${service.info.name}?anything=1`, payload: photo, headers: { 'content-type': 'image/jpeg' } });
    assert.equal(res.statusCode, 200, res.body);
  });

  test('a head named for an explanation must be there: never ignored', async () => {
    const res = await upload('/v1/explain?head=bugs');
    assert.equal(res.statusCode, 404, res.body);
    assert.match(res.json().error, /bugs/);
  });

  test('every query parameter the OpenAPI document gives for our routes is taken, and no other', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>> };
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (!(path === '/predict' || path.startsWith('/v1/'))) continue;
      const url = path.replace('{name}', 'nohead').replace('{id}', '1').replace('{class}', 'x');
      for (const [method, operation] of Object.entries(methods)) {
        const names = (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
        for (const name of [...names, 'not_a_parameter']) {
          const res = await app.inject({ method: method.toUpperCase() as 'GET', url: `${url}?${name}=1` });
          const unknown = /Unknown query parameter/.test(res.body);
          assert.equal(unknown, name === 'not_a_parameter', `${method.toUpperCase()} ${path}?${name}: ${res.body}`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 20, `only ${checked} checked`);
  });
});

/** Teaching classes over HTTP: make, fill, train, use, download and delete heads; bad input; persistence; embeddings. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import type { ClassificationService } from '../../classify/service.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Head } from '../../heads/head.js';
import { HeadStore } from '../../heads/store.js';
import { HeadRegistry, MAX_API_HEADS } from '../heads.js';
import { multipartBody, startTestService, testPhoto } from '../../testing/fixtures.js';
import { buildApp, type ResnetApp } from '../app.js';
import { scratchDir } from '../../testing/scratch.js';

let service: ClassificationService;
let app: ResnetApp;
const warm: Buffer[] = [];
const cool: Buffer[] = [];

const files = (photos: Buffer[]) => multipartBody(photos.map((data, i) => ({ field: 'file', filename: `p${i}.jpg`, type: 'image/jpeg', data })));
const json = (payload: unknown) => ({ payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });

before(async () => {
  service = await startTestService();
  app = await buildApp({ service, processMetrics: false });
  // Two kinds of generated photos: reds and oranges, blues and greens (seeds chosen by hue: 67·seed mod 360).
  for (const seed of [0, 11, 16, 27, 32, 43, 59, 75]) warm.push(await testPhoto(seed, 160, 120));
  for (const seed of [3, 8, 19, 24, 35, 40, 51, 67]) cool.push(await testPhoto(seed, 160, 120));
});
after(async () => {
  await app.close();
  await service.close();
});

describe('a head through the API', () => {
  test('make it, add photos, train it, answer with it on every route, download it, delete it', async () => {
    const made = await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'colours', classes: ['warm', '冷色'] }) });
    assert.equal(made.statusCode, 201, made.body);
    assert.deepEqual(made.json().classes, [{ name: 'warm', photos: 0 }, { name: '冷色', photos: 0 }]);
    const addWarm = await app.inject({ method: 'POST', url: '/v1/heads/colours/examples?class=warm', ...files(warm.slice(0, 6)) });
    assert.equal(addWarm.statusCode, 201, addWarm.body);
    assert.equal(addWarm.json().added.length, 6);
    const addCool = await app.inject({ method: 'POST', url: `/v1/heads/colours/examples?class=${encodeURIComponent('冷色')}`, ...files(cool.slice(0, 6)) });
    assert.equal(addCool.statusCode, 201, addCool.body);
    // Not trained yet: every route that can name a head says so (the page words the code).
    for (const [url, body] of [['/v1/classify?head=colours', files([warm[7]])], ['/v1/explain?head=colours', files([warm[7]])], ['/predictions/colours', files([warm[7]])], ['/v2/models/colours/infer', json({})]] as const) {
      const early = await app.inject({ method: 'POST', url, ...body });
      assert.equal(early.statusCode, 409, `${url}: ${early.body}`);
      assert.equal(early.json().code, 'HEAD_NOT_TRAINED', url);
      assert.match(early.json().error, /not trained yet/, url);
    }

    const trained = await app.inject({ method: 'POST', url: '/v1/heads/colours/train' });
    assert.equal(trained.statusCode, 200, trained.body);
    assert.equal(trained.json().trained, true);
    assert.equal(trained.json().training.evaluation, 'cv');
    assert.ok(trained.json().training.accuracy >= 0.8, trained.body);

    const v1 = await app.inject({ method: 'POST', url: '/v1/classify?head=colours', ...files([warm[7], cool[7]]) });
    assert.equal(v1.statusCode, 200, v1.body);
    const [w, c] = v1.json().results;
    assert.deepEqual(v1.json().head, { name: 'colours', classes: ['warm', '冷色'] });
    assert.equal(w.predictions[0].label, 'warm');
    assert.equal(c.predictions[0].label, '冷色');
    assert.equal(typeof w.unknown, 'boolean');
    const seed = await app.inject({ method: 'POST', url: '/predict?head=colours', payload: cool[6], headers: { 'content-type': 'image/jpeg' } });
    assert.ok(['冷色', 'unknown'].includes(seed.json()[0].label), seed.body);
    const torchserve = await app.inject({ method: 'PUT', url: '/predictions/colours', payload: warm[6] });
    assert.ok('warm' in torchserve.json(), torchserve.body);
    const index = (await app.inject({ method: 'POST', url: '/v2/repository/index' })).json();
    assert.ok(index.some((m: { name: string; state: string }) => m.name === 'colours' && m.state === 'READY'), JSON.stringify(index));
    const v2meta = (await app.inject('/v2/models/colours')).json();
    assert.deepEqual(v2meta.outputs.map((o: { name: string }) => o.name), ['probabilities', 'unknown']);
    const v2 = await app.inject({ method: 'POST', url: '/v2/models/colours/infer', ...json({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [warm[6].toString('base64')] }], outputs: [{ name: 'probabilities', parameters: { classification: 1 } }, { name: 'unknown' }] }) });
    assert.equal(v2.statusCode, 200, v2.body);
    assert.match(v2.json().outputs[0].data[0], /^[\d.]+:0:warm$/);
    assert.equal(typeof v2.json().outputs[1].data[0], 'boolean');
    const v2all = await app.inject({ method: 'POST', url: '/v2/models/colours/infer', ...json({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [warm[6].toString('base64')] }] }) });
    assert.deepEqual(v2all.json().outputs.map((o: { name: string }) => o.name), ['probabilities', 'unknown'], 'no outputs asked for: all of them, as Triton');
    // Every answer on every route is counted by head and answer: 2 + 1 + 1 + 1 + 1 photos, the two of /v1/classify as they were answered.
    const counted = [...(await app.inject('/metrics')).body.matchAll(/^resnet_head_answers_total\{head="colours",class="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])] as const);
    assert.equal(counted.reduce((sum, [, n]) => sum + n, 0), 6, JSON.stringify(counted));
    assert.ok(counted.every(([answer]) => ['warm', '冷色', 'unknown'].includes(answer)), JSON.stringify(counted));
    for (const r of [w, c]) assert.ok(counted.some(([answer, n]) => answer === (r.unknown ? 'unknown' : r.predictions[0].label) && n >= 1), JSON.stringify(counted));

    // Where it looked, for the head's classes: its answer by default, or the class asked for by name or index.
    const explained = await app.inject({ method: 'POST', url: '/v1/explain?head=colours', ...files([cool[7]]) });
    assert.equal(explained.statusCode, 200, explained.body);
    const why = explained.json();
    assert.deepEqual(why.head, { name: 'colours', classes: ['warm', '冷色'] });
    assert.equal(why.class.label, why.predictions[0].label);
    assert.equal(why.class.label, c.predictions[0].label, 'the same answer as /v1/classify');
    assert.equal(typeof why.unknown, 'boolean');
    assert.equal(why.map.values.length, why.map.width * why.map.height);
    const asked = (await app.inject({ method: 'POST', url: '/v1/explain?head=colours&class=WARM', ...files([cool[7]]) })).json();
    assert.equal(asked.class.label, 'warm');
    assert.notDeepEqual(asked.map.values, why.map.values, "another class's map");
    const png = await app.inject({ method: 'POST', url: '/v1/explain?head=colours&class=1&image=crop', payload: cool[7], headers: { 'content-type': 'image/jpeg' } });
    assert.equal(png.headers['content-type'], 'image/png');
    // TorchServe's route names the head as its model, as /predictions/colours does.
    const ts = await app.inject({ method: 'PUT', url: '/explanations/colours', payload: cool[7] });
    assert.equal(ts.statusCode, 200, ts.body);
    assert.deepEqual(ts.json().map, why.map);
    const both = await app.inject({ method: 'PUT', url: '/explanations/colours?head=colours', payload: cool[7] });
    assert.equal(both.statusCode, 400);
    assert.match(both.json().error, /the path names head colours already/);
    const wrong = await app.inject({ method: 'POST', url: '/v1/explain?head=colours&class=tabby', ...files([cool[7]]) });
    assert.equal(wrong.statusCode, 400);
    assert.match(wrong.json().error, /warm, 冷色/, 'names the classes it has');

    const listed = (await app.inject('/v1/heads')).json().heads;
    assert.deepEqual(listed.map((h: { name: string }) => h.name), ['colours']);
    const described = (await app.inject('/v1/heads/colours')).json();
    assert.equal(described.examples.length, 12);
    const thumb = await app.inject(`/v1/heads/colours/examples/${described.examples[0].id}/thumbnail`);
    assert.equal(thumb.headers['content-type'], 'image/jpeg');
    const file = await app.inject('/v1/heads/colours/file');
    assert.match(file.headers['content-disposition'] as string, /attachment/);
    assert.deepEqual(Head.parse(file.body, 'download', { name: service.info.name, sha256: service.info.sha256 }).classes, ['warm', '冷色']);

    // A class added is a change since training; removing it again undoes the change.
    const added = await app.inject({ method: 'POST', url: '/v1/heads/colours/classes', ...json({ classes: ['later'] }) });
    assert.equal(added.json().stale, true, added.body);
    const undone = await app.inject({ method: 'DELETE', url: '/v1/heads/colours/classes/later' });
    assert.equal(undone.json().stale, false, undone.body);
    const removed = await app.inject({ method: 'DELETE', url: `/v1/heads/colours/examples/${described.examples[0].id}` });
    assert.equal(removed.json().stale, true);
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/heads/colours' })).statusCode, 204);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/classify?head=colours', ...files([warm[0]]) })).statusCode, 404);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/explain?head=colours', ...files([warm[0]]) })).statusCode, 404);
  });

  test('a BMP example, which libvips cannot read, is added with its thumbnail', async () => {
    await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'scans', classes: ['a', 'b'] }) });
    try {
      const bmp = await testPhoto(21, 160, 120, 'bmp');
      const added = await app.inject({ method: 'POST', url: '/v1/heads/scans/examples?class=a', ...multipartBody([{ field: 'file', filename: 'scan.bmp', type: 'image/bmp', data: bmp }]) });
      assert.equal(added.statusCode, 201, added.body);
      const [example] = added.json().added as { id: number }[];
      const thumb = await app.inject(`/v1/heads/scans/examples/${example.id}/thumbnail`);
      assert.equal(thumb.headers['content-type'], 'image/jpeg');
      assert.equal(thumb.rawPayload[0], 0xff);
    } finally {
      assert.equal((await app.inject({ method: 'DELETE', url: '/v1/heads/scans' })).statusCode, 204);
    }
  });

  test('heads and their photos persist: a new server on the same cache folder finds them trained', async () => {
    await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'kept', classes: ['a', 'b'] }) });
    await app.inject({ method: 'POST', url: '/v1/heads/kept/examples?class=a', ...files(warm.slice(0, 4)) });
    await app.inject({ method: 'POST', url: '/v1/heads/kept/examples?class=b', ...files(cool.slice(0, 4)) });
    assert.equal((await app.inject({ method: 'POST', url: '/v1/heads/kept/train', ...json({ cv: 2 }) })).statusCode, 200);
    const restarted = await buildApp({ service, processMetrics: false });
    try {
      const res = await restarted.inject({ method: 'POST', url: '/v1/classify?head=kept', ...files([warm[5]]) });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().results[0].predictions[0].label, 'a');
      assert.equal((await restarted.inject('/v1/heads/kept')).json().examples.length, 8);
    } finally {
      await restarted.close();
    }
    await app.inject({ method: 'DELETE', url: '/v1/heads/kept' });
  });
});

describe('bad input gets a clear 400 and changes nothing', () => {
  const refused = async (request: InjectOptions, status: number, mention: RegExp): Promise<void> => {
    const res = await app.inject(request);
    assert.equal(res.statusCode, status, `${JSON.stringify(request).slice(0, 80)}: ${res.body}`);
    assert.match(res.json().error, mention);
  };

  test('names, classes, photos and training', async () => {
    await refused({ method: 'POST', url: '/v1/heads', ...json({}) }, 400, /head name/);
    await refused({ method: 'POST', url: '/v1/heads', ...json({ name: '   ' }) }, 400, /head name/);
    await refused({ method: 'POST', url: '/v1/heads', ...json({ name: 'x', classes: ['ok', '  '] }) }, 400, /empty or only spaces/);
    await refused({ method: 'POST', url: '/v1/heads', ...json({ name: 'x', classes: ['ok', '..'] }) }, 400, /only dots/);
    await refused({ method: 'POST', url: '/v1/heads', ...json({ name: 'x', classes: Array.from({ length: 10_000 }, (_, i) => `c${i}`) }) }, 400, /at most 1000 classes/);
    await refused({ method: 'POST', url: '/v1/heads', ...json({ name: service.info.name }) }, 409, /name of a model/);
    await refused({ method: 'POST', url: '/v1/heads', ...json({ name: 'stats' }) }, 409, /statistics of every model .*\/v2\/models\/stats/);
    assert.equal((await app.inject('/v1/heads')).json().heads.length, 0, 'nothing was made');

    await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'checks', classes: ['one'] }) });
    await refused({ method: 'POST', url: '/v1/heads', ...json({ name: 'checks' }) }, 409, /already exists/);
    await app.inject({ method: 'POST', url: '/v1/heads/checks/examples?class=one', ...files(warm.slice(0, 3)) });
    await refused({ method: 'POST', url: '/v1/heads/checks/train' }, 400, /at least 2 classes/);
    await app.inject({ method: 'POST', url: '/v1/heads/checks/classes', ...json({ name: 'two' }) });
    await refused({ method: 'POST', url: '/v1/heads/checks/train' }, 400, /none in "two"/);
    const mixed = multipartBody([
      { field: 'file', filename: 'good.jpg', type: 'image/jpeg', data: cool[0] },
      { field: 'file', filename: 'notes.txt', type: 'text/plain', data: Buffer.from('not a photo') },
    ]);
    // The photo is added; the other file is named with its reason. Nothing usable at all: refused.
    const partly = await app.inject({ method: 'POST', url: '/v1/heads/checks/examples?class=two', ...mixed });
    assert.equal(partly.statusCode, 201, partly.body);
    assert.deepEqual(partly.json().added.map((a: { name: string }) => a.name), ['good.jpg']);
    assert.equal(partly.json().refused.length, 1);
    assert.equal(partly.json().refused[0].name, 'notes.txt');
    assert.equal(partly.json().refused[0].code, 'IMAGE_UNSUPPORTED');
    assert.doesNotMatch(partly.json().refused[0].error, /^IMAGE_UNSUPPORTED/);
    const onlyText = multipartBody([{ field: 'file', filename: 'notes.txt', type: 'text/plain', data: Buffer.from('not a photo') }]);
    await refused({ method: 'POST', url: '/v1/heads/checks/examples?class=two', ...onlyText }, 415, /^The photo could not be used: notes\.txt: Not an image/);
    // Nothing usable, for different reasons: refused, each file named with its own code (the page words them).
    const twoBad = multipartBody([
      { field: 'file', filename: 'notes.txt', type: 'text/plain', data: Buffer.from('not a photo') },
      { field: 'file', filename: 'cut.jpg', type: 'image/jpeg', data: cool[0].subarray(0, 400) },
    ]);
    const none = await app.inject({ method: 'POST', url: '/v1/heads/checks/examples?class=two', ...twoBad });
    assert.equal(none.statusCode, 400, none.body);
    assert.match(none.json().error, /^None of the 2 photos could be used/);
    assert.deepEqual(none.json().refused.map((r: { name: string; code: string }) => [r.name, r.code]), [['notes.txt', 'IMAGE_UNSUPPORTED'], ['cut.jpg', 'IMAGE_CORRUPT']]);
    await refused({ method: 'POST', url: '/v1/heads/checks/examples', ...files([cool[0]]) }, 400, /Say which class the photos are for: .*\?class=NAME/);
    await refused({ method: 'POST', url: '/v1/heads/checks/train', ...json({ cv: 3, holdout: 0.2 }) }, 400, /"cv" or "holdout", not both/);
    await refused({ method: 'POST', url: '/v1/heads/checks/train', ...json({ foo: 1 }) }, 400, /Unknown training option "foo"/);
    await refused({ method: 'POST', url: '/v1/classify?head=', ...files([warm[0]]) }, 400, /one head name/);
    await refused({ method: 'POST', url: '/v1/heads/checks/examples?class=three', ...files([cool[0]]) }, 404, /no class "three"/);
    const after = (await app.inject('/v1/heads/checks')).json();
    assert.deepEqual(after.classes, [{ name: 'one', photos: 3 }, { name: 'two', photos: 1 }]);
    // A photo the class has already is named, not added twice (nor one sent twice in one upload).
    await refused({ method: 'POST', url: '/v1/heads/checks/examples?class=two', ...files([cool[0]]) }, 409, /^The photo is in class "two" already/);
    const again = await app.inject({ method: 'POST', url: '/v1/heads/checks/examples?class=two', ...files([cool[0], cool[1], cool[1]]) });
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.json().added.length, 1);
    assert.deepEqual(again.json().refused.map((r: { name: string; code: string; error: string }) => [r.name, r.code, r.error]), [
      ['p0.jpg', 'ALREADY_ADDED', 'already in class "two"'],
      ['p2.jpg', 'ALREADY_ADDED', 'sent twice in this upload'],
    ]);
    // Nothing usable, one photo there already and one not a photo: both named, in the order sent.
    const sentBefore = multipartBody([
      { field: 'file', filename: 'notes.txt', type: 'text/plain', data: Buffer.from('not a photo') },
      { field: 'file', filename: 'again.jpg', type: 'image/jpeg', data: cool[0] },
    ]);
    const neither = await app.inject({ method: 'POST', url: '/v1/heads/checks/examples?class=two', ...sentBefore });
    assert.equal(neither.statusCode, 400, neither.body);
    assert.match(neither.json().error, /^None of the 2 photos could be added: notes\.txt: Not an image[^;]*; again\.jpg: already in class "two"$/);
    assert.deepEqual(neither.json().refused.map((r: { name: string }) => r.name), ['notes.txt', 'again.jpg']);
    assert.deepEqual((await app.inject('/v1/heads/checks')).json().classes, [{ name: 'one', photos: 3 }, { name: 'two', photos: 2 }]);
    assert.deepEqual(again.json().alsoIn, [], 'in no other class');
    // The same photo in another class is taken, and named at once with the class that has it too (and again after training).
    const both = await app.inject({ method: 'POST', url: '/v1/heads/checks/examples?class=one', ...files([cool[1], warm[5]]) });
    assert.equal(both.statusCode, 201, both.body);
    assert.deepEqual(both.json().alsoIn, [{ name: 'p0.jpg', classes: ['two'] }]);
    await refused({ method: 'POST', url: '/v1/classify?head=nope', ...files([warm[0]]) }, 404, /No head named "nope"/);
    await app.inject({ method: 'DELETE', url: '/v1/heads/checks' });
  });

  test(`at most ${MAX_API_HEADS} heads: the next is refused with 409 until one is deleted`, async () => {
    const made = Array.from({ length: MAX_API_HEADS }, (_, i) => `many-${i}`);
    for (const name of made) {
      const res = await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name }) });
      assert.ok([200, 201].includes(res.statusCode), res.body);
    }
    const over = await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'one-too-many' }) });
    assert.equal(over.statusCode, 409, over.body);
    assert.match(over.json().error, new RegExp(`at most ${MAX_API_HEADS} heads`));
    await app.inject({ method: 'DELETE', url: `/v1/heads/${made[0]}` });
    const room = await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'one-too-many' }) });
    assert.ok([200, 201].includes(room.statusCode), room.body);
    for (const name of [...made.slice(1), 'one-too-many']) await app.inject({ method: 'DELETE', url: `/v1/heads/${name}` });
    assert.equal((await app.inject('/v1/heads')).json().heads.length, 0);
  });

  test('with an API key, heads need it too', async () => {
    const locked = await buildApp({ service, processMetrics: false, access: { apiKey: 'a-key-for-heads' } });
    try {
      assert.equal((await locked.inject('/v1/heads')).statusCode, 401);
      assert.equal((await locked.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'x' }) })).statusCode, 401);
      assert.equal((await locked.inject({ url: '/v1/heads', headers: { authorization: 'Bearer a-key-for-heads' } })).statusCode, 200);
    } finally {
      await locked.close();
    }
  });
});

describe('what a newcomer ran into', () => {
  test('a head deleted while it trains stays deleted; a new head of that name starts empty', async () => {
    await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'racing', classes: ['a', 'b'] }) });
    await app.inject({ method: 'POST', url: '/v1/heads/racing/examples?class=a', ...files(warm.slice(0, 6)) });
    await app.inject({ method: 'POST', url: '/v1/heads/racing/examples?class=b', ...files(cool.slice(0, 6)) });
    const training = app.inject({ method: 'POST', url: '/v1/heads/racing/train' });
    await new Promise((r) => setImmediate(r));
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/heads/racing' })).statusCode, 204);
    assert.equal((await training).statusCode, 404);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/classify?head=racing', ...files([warm[0]]) })).statusCode, 404);
    await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'racing', classes: ['x', 'y'] }) });
    const fresh = await app.inject({ method: 'POST', url: '/predict?head=racing', ...files([warm[0]]) });
    assert.equal(fresh.statusCode, 409, fresh.body);
    assert.equal(fresh.json().code, 'HEAD_NOT_TRAINED');
    assert.match(fresh.json().error, /not trained yet/);
    await app.inject({ method: 'DELETE', url: '/v1/heads/racing' });
  });

  test('class order, number-like names, a photo given twice, Unicode file names', async () => {
    await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'parts', classes: ['OK', '2', '1'] }) });
    const upload = multipartBody([warm[0], warm[1], warm[0], warm[2]].map((data, i) => ({ field: 'file', filename: `花 ${i}.jpg`, type: 'image/jpeg', data })));
    const added = await app.inject({ method: 'POST', url: '/v1/heads/parts/examples?class=OK', ...upload });
    // The photo given twice is added once; the second is named as already there.
    assert.deepEqual(added.json().added.map((a: { name: string }) => a.name), ['花 0.jpg', '花 1.jpg', '花 3.jpg']);
    assert.deepEqual(added.json().refused.map((r: { name: string; code: string }) => [r.name, r.code]), [['花 2.jpg', 'ALREADY_ADDED']]);
    await app.inject({ method: 'POST', url: '/v1/heads/parts/examples?class=2', ...files(cool.slice(0, 3)) });
    await app.inject({ method: 'POST', url: '/v1/heads/parts/examples?class=1', ...files(cool.slice(4, 7)) });
    const trained = (await app.inject({ method: 'POST', url: '/v1/heads/parts/train', ...json({ cv: 2 }) })).json();
    assert.deepEqual(trained.training.classes, ['OK', '2', '1'], 'the confusion matrix is in class order');
    assert.equal(trained.training.counts.OK, 3, 'a photo given twice counts once');
    assert.ok(trained.training.warnings.some((w: string) => /class "2" has only 3 photos/.test(w)));
    await app.inject({ method: 'DELETE', url: '/v1/heads/parts' });
  });

  test('a head and class named in decomposed Unicode (NFD, as macOS file names are) are the ones made in composed form', async () => {
    const [composed, decomposed] = ['Café', 'Café'.normalize('NFD')];
    assert.notEqual(composed, decomposed);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: composed, classes: ['crème', 'brûlée'] }) })).statusCode, 201);
    const nfd = encodeURIComponent(decomposed);
    const described = await app.inject(`/v1/heads/${nfd}`);
    assert.equal(described.statusCode, 200, described.body);
    assert.equal(described.json().name, composed);
    const added = await app.inject({ method: 'POST', url: `/v1/heads/${nfd}/examples?class=${encodeURIComponent('crème'.normalize('NFD'))}`, ...files(warm.slice(0, 2)) });
    assert.equal(added.statusCode, 201, added.body);
    await app.inject({ method: 'POST', url: `/v1/heads/${encodeURIComponent(composed)}/examples?class=${encodeURIComponent('brûlée')}`, ...files(cool.slice(0, 2)) });
    assert.equal((await app.inject({ method: 'POST', url: `/v1/heads/${nfd}/train`, ...json({ cv: 2 }) })).statusCode, 200);
    const answered = await app.inject({ method: 'POST', url: `/v1/classify?head=${nfd}`, ...files([warm[3]]) });
    assert.equal(answered.statusCode, 200, answered.body);
    assert.equal(answered.json().head.name, composed);
    assert.equal((await app.inject({ method: 'DELETE', url: `/v1/heads/${nfd}/classes/${encodeURIComponent('brûlée'.normalize('NFD'))}` })).statusCode, 200);
    assert.equal((await app.inject({ method: 'DELETE', url: `/v1/heads/${nfd}` })).statusCode, 204);
  });

  test('a head made on another model is listed and can be deleted, but not used or changed', async () => {
    const store = new HeadStore(service.cacheDir);
    store.create('elsewhere', 'f'.repeat(64), ['a', 'b']);
    store.close();
    const listed = (await app.inject('/v1/heads')).json().heads.find((h: { name: string }) => h.name === 'elsewhere');
    assert.deepEqual(listed.model, { sha256: 'f'.repeat(64), current: false });
    const again = await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'elsewhere' }) });
    assert.equal(again.statusCode, 409);
    assert.match(again.json().error, /made on another model/);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/heads/elsewhere/classes', ...json({ name: 'c' }) })).statusCode, 409);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/classify?head=elsewhere', ...files([warm[0]]) })).statusCode, 409);
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/heads/elsewhere' })).statusCode, 204);
  });

  test('serve --head NAME=FILE serves the head as NAME everywhere', async () => {
    await app.inject({ method: 'POST', url: '/v1/heads', ...json({ name: 'family', classes: ['warm', 'cool'] }) });
    await app.inject({ method: 'POST', url: '/v1/heads/family/examples?class=warm', ...files(warm.slice(0, 4)) });
    await app.inject({ method: 'POST', url: '/v1/heads/family/examples?class=cool', ...files(cool.slice(0, 4)) });
    await app.inject({ method: 'POST', url: '/v1/heads/family/train', ...json({ cv: 2 }) });
    const dir = await scratchDir('rs-headfile-');
    writeFileSync(join(dir, 'family.json'), (await app.inject('/v1/heads/family/file')).body);
    await assert.rejects(HeadRegistry.open(service, { family: join(dir, 'family.json') }), /already named "family"/);
    await assert.rejects(HeadRegistry.open(service, { [service.info.name]: join(dir, 'family.json') }), /name of a model/);
    const served = await buildApp({ service, processMetrics: false, heads: await HeadRegistry.open(service, { fam: join(dir, 'family.json') }) });
    try {
      const meta = await served.inject('/v2/models/fam');
      assert.equal(meta.json().name, 'fam', meta.body);
      const image = { inputs: [{ name: 'image', shape: [1, 1], datatype: 'BYTES', data: [warm[6].toString('base64')] }] };
      assert.equal((await served.inject({ method: 'POST', url: '/v2/models/fam/infer', ...json(image) })).json().model_name, 'fam');
      assert.equal((await served.inject({ method: 'POST', url: '/v1/classify?head=fam', ...files([warm[6]]) })).json().head.name, 'fam');
      // A head from a file is the file's: changing it through the API is a conflict (409), not a bad request.
      const del = await served.inject({ method: 'DELETE', url: '/v1/heads/fam' });
      assert.equal(del.statusCode, 409, del.body);
      assert.equal(del.json().code, 'CONFLICT');
      assert.match(del.json().error, /loaded from a file/);
    } finally {
      await served.close();
    }
    await app.inject({ method: 'DELETE', url: '/v1/heads/family' });
  });
});

test('POST /v1/embed: the embedding of an image, or of each of several', async () => {
  const one = await app.inject({ method: 'POST', url: '/v1/embed', payload: warm[0], headers: { 'content-type': 'image/jpeg' } });
  assert.equal(one.statusCode, 200);
  const body = one.json();
  assert.equal(body.dim, 512);
  assert.equal(body.embedding.length, 512);
  assert.deepEqual(body.model, { name: service.info.name, sha256: service.info.sha256 });
  const [expected] = await service.embedMany([warm[0]]);
  assert.ok(expected.ok);
  assert.ok(body.embedding.every((v: number, i: number) => Math.abs(v - expected.embedding[i]) < 1e-5));
  const several = await app.inject({ method: 'POST', url: '/v1/embed', ...multipartBody([{ field: 'file', filename: 'a.jpg', type: 'image/jpeg', data: warm[1] }, { field: 'file', filename: 'b.txt', type: 'text/plain', data: Buffer.from('nope') }]) });
  assert.equal(several.json().results[0].dim, 512);
  assert.equal(several.json().results[1].error.code, 'IMAGE_UNSUPPORTED');
});

/** "Why did it say that?" over HTTP: /v1/explain and TorchServe's /explanations/{model}. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { ClassificationService } from '../../classify/service.js';
import { multipartBody, startTestService, testPhoto } from '../../testing/fixtures.js';
import { buildApp, type ResnetApp } from '../app.js';

let service: ClassificationService;
let app: ResnetApp;
let photo: Buffer;

before(async () => {
  service = await startTestService();
  app = await buildApp({ service, processMetrics: false });
  photo = await testPhoto(7, 320, 240);
});
after(async () => {
  await app.close();
  await service.close();
});

test('POST /v1/explain: the top answer, its 7×7 map and PNG overlays on the crop and on the photo', async () => {
  const res = await app.inject({ method: 'POST', url: '/v1/explain?top_k=3', ...multipartBody([{ field: 'file', filename: 'p.jpg', type: 'image/jpeg', data: photo }]) });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  const [classified] = await service.classifyMany([photo], { topK: 3, lang: 'both' });
  assert.ok(classified.ok);
  assert.equal(body.class.index, classified.predictions[0].index);
  assert.deepEqual(body.predictions.map((p: { index: number }) => p.index), classified.predictions.map((p) => p.index));
  assert.equal(body.map.width, 7);
  assert.equal(body.map.values.length, 49);
  assert.ok(body.map.values.some((v: number) => v !== 0));
  const crop = await sharp(Buffer.from(body.overlay.crop_png, 'base64')).metadata();
  assert.deepEqual([crop.format, crop.width, crop.height], ['png', 224, 224]);
  const whole = await sharp(Buffer.from(body.overlay.photo_png, 'base64')).metadata();
  assert.deepEqual([whole.width, whole.height], [320, 240]);
});

test('another class by index or label; the PNG alone; TorchServe\'s route; clear errors', async () => {
  const byIndex = await app.inject({ method: 'POST', url: '/v1/explain?class=281', payload: photo, headers: { 'content-type': 'image/jpeg' } });
  assert.equal(byIndex.statusCode, 200, byIndex.body);
  assert.equal(byIndex.json().class.label, 'tabby');
  const byLabel = await app.inject({ method: 'POST', url: `/v1/explain?class=${encodeURIComponent('虎斑猫')}`, payload: photo, headers: { 'content-type': 'image/jpeg' } });
  assert.deepEqual(byLabel.json().map, byIndex.json().map);
  const png = await app.inject({ method: 'POST', url: '/v1/explain?image=crop', payload: photo, headers: { 'content-type': 'image/jpeg' } });
  assert.equal(png.headers['content-type'], 'image/png');
  assert.equal((await sharp(png.rawPayload).metadata()).width, 224);
  const ts = await app.inject({ method: 'PUT', url: `/explanations/${service.info.name}`, payload: photo });
  assert.equal(ts.statusCode, 200, ts.body);
  assert.deepEqual(ts.json().map, (await app.inject({ method: 'POST', url: '/v1/explain', payload: photo, headers: { 'content-type': 'image/jpeg' } })).json().map);
  const plain = await app.inject({ method: 'POST', url: '/v1/explain?image=crop&heatmap=off', payload: photo, headers: { 'content-type': 'image/jpeg' } });
  assert.equal(plain.headers['content-type'], 'image/png');
  assert.ok(!plain.rawPayload.equals(png.rawPayload), 'the plain crop has no heatmap over it');
  const twice = await app.inject({ method: 'POST', url: '/v1/explain?class=tabby&class=281', payload: photo, headers: { 'content-type': 'image/jpeg' } });
  assert.equal(twice.statusCode, 400, twice.body);
  const bad = await app.inject({ method: 'POST', url: '/v1/explain?class=unicorn', payload: photo, headers: { 'content-type': 'image/jpeg' } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().code, 'INVALID_ARGUMENT');
  // The photo as base64 text, as TorchServe's clients also send it (curl -d @photo.b64): the same map.
  const base64 = await app.inject({ method: 'POST', url: `/explanations/${service.info.name}`, payload: photo.toString('base64'), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(base64.statusCode, 200, base64.body);
  assert.deepEqual(base64.json().map, ts.json().map);
  const other = await app.inject({ method: 'POST', url: '/explanations/vgg16', payload: photo });
  assert.equal(other.statusCode, 404);
  // A version: ours (1.0) or none other, as TorchServe answers.
  assert.equal((await app.inject({ method: 'POST', url: `/explanations/${service.info.name}/1.0`, payload: photo })).statusCode, 200);
  const version = await app.inject({ method: 'POST', url: `/explanations/${service.info.name}/abc`, payload: photo });
  assert.deepEqual([version.statusCode, version.json().code], [404, 'NOT_FOUND']);
  const notImage = await app.inject({ method: 'POST', url: '/v1/explain', payload: Buffer.from('hello'), headers: { 'content-type': 'image/jpeg' } });
  assert.equal(notImage.statusCode, 415);
  const two = await app.inject({ method: 'POST', url: '/v1/explain', ...multipartBody([photo, photo].map((data, i) => ({ field: 'file', filename: `${i}.jpg`, type: 'image/jpeg', data }))) });
  assert.equal(two.statusCode, 400);
  // The server still answers after all that.
  assert.equal((await app.inject({ method: 'POST', url: '/v1/explain', payload: photo, headers: { 'content-type': 'image/jpeg' } })).statusCode, 200);
});

test('a BMP, which libvips cannot read, is explained and drawn like the same pixels as PNG', async () => {
  const [bmp, png] = await Promise.all([testPhoto(5, 200, 150, 'bmp'), testPhoto(5, 200, 150, 'png')]);
  const fromBmp = await app.inject({ method: 'POST', url: '/v1/explain', payload: bmp, headers: { 'content-type': 'image/bmp' } });
  assert.equal(fromBmp.statusCode, 200, fromBmp.body);
  const fromPng = await app.inject({ method: 'POST', url: '/v1/explain', payload: png, headers: { 'content-type': 'image/png' } });
  assert.deepEqual(fromBmp.json().map, fromPng.json().map);
  const crop = await sharp(Buffer.from(fromBmp.json().overlay.crop_png, 'base64')).metadata();
  assert.deepEqual([crop.width, crop.height], [224, 224]);
  const whole = await sharp(Buffer.from(fromBmp.json().overlay.photo_png, 'base64')).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([whole.info.width, whole.info.height], [200, 150]);
  const plain = await app.inject({ method: 'POST', url: '/v1/explain?image=photo&heatmap=off', payload: bmp, headers: { 'content-type': 'image/bmp' } });
  const plainPng = await app.inject({ method: 'POST', url: '/v1/explain?image=photo&heatmap=off', payload: png, headers: { 'content-type': 'image/png' } });
  assert.ok((await sharp(plain.rawPayload).raw().toBuffer()).equals(await sharp(plainPng.rawPayload).raw().toBuffer()), 'the same picture, pixel for pixel');
});

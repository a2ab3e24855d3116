import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResnetServeError } from '../errors.js';
import type { ClassificationService } from '../classify/service.js';
import { buildApp } from './app.js';
import { DEFAULT_LIMITS, MAX_TIMER_MS, resolveLimits } from './options.js';

const refused = (name: string) => (err: unknown) => err instanceof ResnetServeError && err.code === 'INVALID_ARGUMENT' && err.message.includes(name);

test('a body timeout below the default headers timeout lowers that too; both given the other way round are refused', () => {
  assert.deepEqual(resolveLimits(), DEFAULT_LIMITS);
  const short = resolveLimits({ bodyTimeoutMs: 2000 });
  assert.equal(short.headersTimeoutMs, 2000);
  assert.equal(resolveLimits({ bodyTimeoutMs: 2000, headersTimeoutMs: 1500 }).headersTimeoutMs, 1500);
  assert.throws(() => resolveLimits({ bodyTimeoutMs: 2000, headersTimeoutMs: 5000 }), refused('headersTimeoutMs'));
});

test("time limits past Node's longest timer are refused, as are values that are not positive integers", () => {
  assert.equal(resolveLimits({ requestTimeoutMs: MAX_TIMER_MS, bodyTimeoutMs: MAX_TIMER_MS }).requestTimeoutMs, MAX_TIMER_MS);
  for (const key of ['requestTimeoutMs', 'headersTimeoutMs', 'bodyTimeoutMs', 'keepAliveTimeoutMs'] as const) {
    assert.throws(() => resolveLimits({ [key]: MAX_TIMER_MS + 1 }), refused(key));
  }
  assert.throws(() => resolveLimits({ maxFiles: 0 }), refused('maxFiles'));
  assert.throws(() => resolveLimits({ maxUploadBytes: 1.5 }), refused('maxUploadBytes'));
});

test('an app with a short body timeout is built (Node refuses a headers timeout above it)', async () => {
  const app = await buildApp({ service: new Promise<ClassificationService>(() => undefined), limits: { bodyTimeoutMs: 2000 }, processMetrics: false });
  assert.equal(app.server.headersTimeout, 2000);
  assert.equal(app.server.requestTimeout, 2000);
  await app.close();
});

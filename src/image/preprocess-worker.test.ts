import assert from 'node:assert/strict';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { test } from 'node:test';
import { IMAGENET_PREPROCESS } from './preprocess-config.js';
import preprocess, { type PreprocessReply } from './preprocess-worker.js';

/** Young-generation collections asked for by code (forced), while `run` runs. */
async function forcedMinorCollections(run: () => Promise<void>): Promise<number> {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  await run();
  await new Promise((resolve) => setTimeout(resolve, 20));
  observer.disconnect();
  return entries.filter((e) => {
    const { detail } = e as PerformanceEntry & { detail: { kind: number; flags: number } };
    return detail.kind === constants.NODE_PERFORMANCE_GC_MINOR && (detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0;
  }).length;
}

test('the worker collects its young generation once every 2 MB of image bytes it has let go of, good or bad', async () => {
  const task = (bytes: Uint8Array) => ({ bytes, config: IMAGENET_PREPROCESS, maxPixels: 1e6, maxDecodeMs: 1000, mode: 'fast' as const });
  const upload = (): Uint8Array => new Uint8Array(1_000_000).fill(7);
  // 1 MB uploads: the count passes 2 MiB (2,097,152 bytes) at every third, and starts again from zero.
  const first = await forcedMinorCollections(async () => {
    for (let i = 0; i < 2; i++) await preprocess(task(upload()));
  });
  assert.equal(first, 0, 'two megabytes stay under the budget');
  const replies: PreprocessReply[] = [];
  const later = await forcedMinorCollections(async () => {
    for (let i = 0; i < 10; i++) replies.push((await preprocess(task(upload()))) as PreprocessReply);
  });
  assert.equal(later, 4, 'the 3rd, 6th, 9th and 12th megabytes each bring one collection');
  assert.ok(replies.every((r) => !r.ok && r.code === 'IMAGE_UNSUPPORTED'), 'bytes that are no image are refused, and still counted');
});

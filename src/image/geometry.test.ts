import assert from 'node:assert/strict';
import { test } from 'node:test';
import { centerCropBox, resizeShortSide, roundHalfEven } from './geometry.js';

test('roundHalfEven rounds halves to the even neighbour, like Python round()', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, 4154.5, 4155.5].map(roundHalfEven), [0, 2, 2, 4, 0, -2, 4154, 4156]);
  assert.deepEqual([0.49, 0.51, 2.4999, 7].map(roundHalfEven), [0, 1, 2, 7]);
});

test('resizeShortSide makes the short side 256 and truncates the long side as torchvision does', () => {
  assert.deepEqual(resizeShortSide({ width: 1920, height: 1080 }, 256), { width: 455, height: 256 });
  assert.deepEqual(resizeShortSide({ width: 1200, height: 1600 }, 256), { width: 256, height: 341 });
  assert.deepEqual(resizeShortSide({ width: 2000, height: 60 }, 256), { width: 8533, height: 256 });
  assert.deepEqual(resizeShortSide({ width: 8, height: 8 }, 256), { width: 256, height: 256 });
  assert.deepEqual(resizeShortSide({ width: 333, height: 500 }, 256), { width: 256, height: 384 });
});

test('centerCropBox uses round((size - crop) / 2) with halves to even', () => {
  assert.deepEqual(centerCropBox({ width: 455, height: 256 }, { width: 224, height: 224 }), { left: 116, top: 16, width: 224, height: 224 });
  // (8533 - 224) / 2 = 4154.5 → 4154 (even), where Math.round would give 4155.
  assert.equal(centerCropBox({ width: 8533, height: 256 }, { width: 224, height: 224 }).left, 4154);
  // (341 - 224) / 2 = 58.5 → 58.
  assert.equal(centerCropBox({ width: 256, height: 341 }, { width: 224, height: 224 }).top, 58);
  assert.throws(() => centerCropBox({ width: 100, height: 300 }, { width: 224, height: 224 }), RangeError);
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resizeBilinearWindow, type RawImage } from './resample.js';
import { simdAvailable } from './resample-simd.js';
import { centerCropBox, resizeShortSide } from './geometry.js';

function randomImage(width: number, height: number, seed: number): RawImage {
  const data = new Uint8Array(width * height * 3);
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    // Smooth areas, edges and the extremes 0 and 255, where clamping matters.
    data[i] = i % 7 === 0 ? (x >>> 31) * 255 : (x >>> 24);
  }
  return { data, width, height, channels: 3 };
}

function withoutSimd<T>(run: () => T): T {
  process.env.RESNET_SERVE_NO_SIMD = '1';
  try {
    return run();
  } finally {
    delete process.env.RESNET_SERVE_NO_SIMD;
  }
}

test('the WebAssembly SIMD passes give the same bytes as the TypeScript ones, for downscales, upscales, odd sizes and windows', () => {
  assert.ok(simdAvailable(), 'Node 20 runs WebAssembly SIMD');
  const sizes: [number, number][] = [[1920, 1080], [1081, 1923], [257, 300], [300, 257], [97, 61], [224, 500], [4000, 3000], [5, 3]];
  for (const [i, [w, h]] of sizes.entries()) {
    const src = randomImage(w, h, i + 1);
    const resized = resizeShortSide({ width: w, height: h }, 256);
    const crop = centerCropBox(resized, { width: Math.min(224, resized.width), height: Math.min(224, resized.height) });
    const simd = resizeBilinearWindow(src, resized, crop);
    const plain = withoutSimd(() => resizeBilinearWindow(src, resized, crop));
    assert.equal(simd.data.length, plain.data.length);
    assert.ok(Buffer.from(simd.data).equals(Buffer.from(plain.data)), `${w}x${h} → ${resized.width}x${resized.height}: bytes differ`);
  }
});

test('the committed WebAssembly module is what resample.wat compiles to', () => {
  const script = fileURLToPath(new URL('../../scripts/build-wasm.mjs', import.meta.url));
  execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' });
});

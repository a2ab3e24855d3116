import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { nativeJpegAvailable } from './jpeg-native.js';

// A fresh process decodes through the preprocessing worker's entry point and reports, after each file, whether libvips is mapped.
const script = `
const { readFileSync } = await import('node:fs');
const { default: preprocess } = await import(${JSON.stringify(new URL('./preprocess-worker.js', import.meta.url).href)});
const { IMAGENET_PREPROCESS } = await import(${JSON.stringify(new URL('./preprocess-config.js', import.meta.url).href)});
const libvips = () => /libvips/.test(readFileSync('/proc/self/maps', 'utf8'));
const seen = [];
for (const file of process.argv.slice(1)) {
  const reply = await preprocess({ bytes: readFileSync(file), config: IMAGENET_PREPROCESS, maxPixels: 1e8, maxDecodeMs: 10000, mode: 'fast', into: new Float32Array(3 * 224 * 224) });
  seen.push({ ok: reply.ok, libvips: libvips() });
}
console.log(JSON.stringify(seen));
`;

test('JPEGs decode without loading libvips; the first other image loads it', { skip: (!existsSync('/proc/self/maps') && 'needs /proc (Linux)') || (!nativeJpegAvailable() && 'the native JPEG decoder is not built here') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rs-load-sharp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const photo = sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 120, b: 40 } } });
  const jpeg = join(dir, 'a.jpg');
  const png = join(dir, 'b.png');
  writeFileSync(jpeg, await photo.clone().jpeg().toBuffer());
  writeFileSync(png, await photo.clone().png().toBuffer());
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, jpeg, jpeg, png, jpeg]);
  assert.deepEqual(JSON.parse(stdout), [
    { ok: true, libvips: false },
    { ok: true, libvips: false },
    { ok: true, libvips: true },
    { ok: true, libvips: true },
  ]);
});

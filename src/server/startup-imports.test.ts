/**
 * Start-up cost: the event loop reads only the HTTP stack. ONNX Runtime and
 * libvips load in the model's and the preprocessing workers' threads, and no
 * route schema compiler is loaded at all (the start-up took ~180 ms longer
 * when the event loop loaded them too; docs/performance.md, Start-up).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const script = `
const { buildApp } = await import(${JSON.stringify(new URL('./app.js', import.meta.url).href)});
await import(${JSON.stringify(new URL('./server.js', import.meta.url).href)});
// What \`serve --precision int8\` loads on the event loop too: the quantised model's cache key is worked out there.
await import(${JSON.stringify(new URL('../model/load-model.js', import.meta.url).href)});
await import(${JSON.stringify(new URL('../model/quantize/quantize.js', import.meta.url).href)});
const never = new Promise(() => {});
const app = await buildApp({ service: never, heads: never });
await app.ready();
const { createRequire } = await import('node:module');
const { readFileSync } = await import('node:fs');
const packages = Object.keys(createRequire(import.meta.url).cache).map((f) => f.split('node_modules/').pop().split('/').slice(0, 2).join('/'));
const libraries = readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split('/').pop());
console.log(JSON.stringify({ packages: [...new Set(packages)], libraries: [...new Set(libraries)] }));
await app.close();
`;

test('building and readying the app loads neither ONNX Runtime, libvips nor a schema compiler', { skip: !existsSync('/proc/self/maps') && 'needs /proc (Linux)' }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('.', import.meta.url)) });
  const { packages, libraries } = JSON.parse(stdout) as { packages: string[]; libraries: string[] };
  assert.ok(packages.some((p) => p.startsWith('fastify/')), 'the check sees the packages the app loads');
  // sharp is an ES module (not in require's cache): its native binding and libvips show in the process's maps instead.
  for (const unwanted of ['onnxruntime-node/dist', 'ajv/dist', 'fast-json-stringify/index.js']) {
    assert.ok(!packages.some((p) => p.startsWith(unwanted)), `${unwanted} is loaded by the event loop`);
  }
  const native = libraries.filter((l) => /^libonnxruntime|^onnxruntime_binding|^libvips|^sharp-.*\.node$/.test(l));
  assert.deepEqual(native, [], 'native libraries loaded by the event loop');
});

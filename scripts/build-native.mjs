#!/usr/bin/env node
/**
 * `npm install`'s step for the optional native JPEG decoder
 * (`native/jpeg_scaled.c`): compiles it with the node-gyp that npm ships when
 * a C compiler and libjpeg's headers are there, and otherwise says so in one
 * line and succeeds: sharp then decodes every image (the same answers in
 * exact mode and within fast mode's tolerance, 3-5 ms more per 1080p photo).
 * `RESNET_SERVE_NO_NATIVE_JPEG=1` skips it. `npm run build:native` retries.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const native = fileURLToPath(new URL('../native', import.meta.url));
const say = (line) => process.stderr.write(`resnet-serve: ${line}\n`);

if (process.env.RESNET_SERVE_NO_NATIVE_JPEG === '1') {
  say('native JPEG decoder skipped (RESNET_SERVE_NO_NATIVE_JPEG=1); sharp decodes every image');
  process.exit(0);
}

/** npm's own node-gyp: npm names it in the environment of the scripts it runs; else look beside npm. */
function findNodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const candidates = [];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((path) => existsSync(path)) ?? null;
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) {
  say('native JPEG decoder not built (node-gyp not found); sharp decodes every image');
  process.exit(0);
}
// Node's own headers where they came with Node (the Debian package, the official tarball), so nothing is downloaded.
const prefix = join(dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null);
// Bounded: node-gyp may try to download Node's headers, which must not hold up an install that works without it.
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])], { cwd: native, encoding: 'utf8', timeout: 180_000 });
if (result.status === 0) {
  say('native JPEG decoder built (libjpeg-turbo decodes JPEG photos directly, large ones at reduced scale in fast mode)');
} else {
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  const why = /jpeglib\.h/.test(output)
    ? "libjpeg's headers are missing: on Debian or Ubuntu `apt-get install libjpeg62-turbo-dev` (or libjpeg-turbo8-dev), then `npm run build:native`"
    : result.error
      ? `node-gyp did not finish (${result.error.message})`
      : `node-gyp failed (${output.split('\n').find((l) => /fatal error|gyp ERR! (?:stack|configure)/.test(l))?.trim() ?? `exit ${result.status}`})`;
  say(`native JPEG decoder not built: ${why}; sharp decodes every image`);
}

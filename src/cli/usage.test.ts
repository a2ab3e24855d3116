import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMANDS, USAGE, optionsOf, similarCommands, similarOptions, unknownVariables, usageOf } from './usage.js';

test("each command's help has its own options and every command's common options", () => {
  for (const [command, own, other] of [
    ['serve', '--max-upload-mb N', '--xmp'],
    ['tag', '--xmp', '--max-upload-mb'],
    ['dupes', '--threshold F', '--format'],
    ['export', '--library DIR | --db PATH', '--threshold'],
    ['info', '', '--top-k'],
  ]) {
    const text = usageOf(command);
    // The usage line names the command's arguments as its own line does (tag <folders…>).
    const line = text.split('\n')[2].trim().split(/\s{2,}/)[0];
    assert.ok(line.startsWith(command) && text.startsWith(`Usage: resnet-serve ${line} [options]\n\n  ${command}`), text);
    assert.ok(text.includes(own), `${command}: ${own}`);
    assert.ok(!text.includes(other), `${command} shows ${other}`);
    // The model's options only where the model runs; the environment example is an option of the command's own.
    assert.equal(text.includes('--precision fp32|int8'), !['dupes', 'export'].includes(command), command);
    assert.ok(text.includes('--help'), command);
    const example = /--([a-z0-9-]+) (\S+) is\nRESNET_SERVE_([A-Z0-9_]+)=(\S+) /.exec(text);
    assert.ok(example && example[3] === example[1].toUpperCase().replace(/-/g, '_') && example[2] === example[4], text);
    assert.ok(optionsOf(command).includes(example[1]), `${command}: the example --${example[1]} is its own`);
  }
  // A continuation line stays with its option.
  assert.match(usageOf('classify'), /--explain DIR .*\n {33}and DIR/);
  assert.equal(usageOf(undefined), USAGE);
  assert.equal(usageOf('frobnicate'), USAGE);
});

test('a mistyped option gets the closest real ones; a made-up one gets none', () => {
  assert.deepEqual(similarOptions('--topk'), ['--top-k']);
  assert.deepEqual(similarOptions('--top-kk'), ['--top-k']);
  assert.deepEqual(similarOptions('--modle'), ['--model']);
  assert.deepEqual(similarOptions('--TOP_K'), ['--top-k']);
  assert.deepEqual(similarOptions('--zzzzzz'), []);
  assert.deepEqual(similarOptions('-x'), []);
});

test("a mistyped option is matched against the command's own options; a mistyped command against the commands", () => {
  assert.deepEqual(similarOptions('-v', 'classify'), [], 'train\'s --cv is not offered to classify');
  assert.deepEqual(similarOptions('--cvv', 'train'), ['--cv']);
  assert.deepEqual(similarOptions('--prot', 'serve'), ['--port']);
  assert.deepEqual(similarOptions('--prot', 'classify'), []);
  assert.deepEqual(similarOptions('--topk', 'not-a-command'), ['--top-k']);
  assert.deepEqual(COMMANDS, ['classify', 'train', 'embed', 'serve', 'tag', 'search', 'dupes', 'export', 'fetch-model', 'info']);
  assert.deepEqual(similarCommands('classfy'), ['classify']);
  assert.deepEqual(similarCommands('serv'), ['serve']);
  assert.deepEqual(similarCommands('frobnicate'), []);
});

test('a RESNET_SERVE_* variable that is no setting is warned about with the names it was probably meant to be; ours and a Service\'s links are not', () => {
  const env = {
    RESNET_SERVE_MAX_UPLAOD_MB: '1',
    RESNET_SERVE_TOPK: '3',
    RESNET_SERVE_CAMERA: 'line 4',
    RESNET_SERVE_MAX_UPLOAD_MB: '8',
    RESNET_SERVE_HOME: '/var/cache/rs',
    RESNET_SERVE_NO_NATIVE_JPEG: '1',
    RESNET_SERVE_PORT: 'tcp://10.96.12.34:80',
    RESNET_SERVE_PORT_80_TCP_ADDR: '10.96.12.34',
    RESNET_SERVE_SERVICE_HOST: '10.96.12.34',
    RESNET_SERVE_SERVICE_PORT_HTTP: '80',
    HOME: '/root',
  };
  assert.deepEqual(unknownVariables(env), [
    'RESNET_SERVE_CAMERA is not a setting of resnet-serve, so it is ignored',
    'RESNET_SERVE_MAX_UPLAOD_MB is not a setting of resnet-serve, so it is ignored (did you mean RESNET_SERVE_MAX_UPLOAD_MB?)',
    'RESNET_SERVE_TOPK is not a setting of resnet-serve, so it is ignored (did you mean RESNET_SERVE_TOP_K?)',
  ]);
});


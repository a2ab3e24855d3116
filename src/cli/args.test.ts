import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError, fractionOption, headOptions, langOption, modelOptions, withEnvironment, type Parsed } from './args.js';

test('fractionOption takes decimal fractions in range, and names the option, the range and the value otherwise', () => {
  const score = { min: 0, max: 1, what: 'a probability' };
  assert.equal(fractionOption(undefined, '--min-score', 0.1, score), 0.1);
  for (const [text, value] of [['0', 0], ['1', 1], ['0.25', 0.25], ['.5', 0.5], ['1.', 1]] as const) assert.equal(fractionOption(text, '--min-score', 0.1, score), value, text);
  for (const bad of ['', ' ', '0x1', '1e-1', '-0.1', '1.5', 'NaN', 'Infinity', '0.1.2']) {
    assert.throws(() => fractionOption(bad, '--min-score', 0.1, score), (err: Error) => err instanceof UsageError && err.message === `--min-score must be a probability from 0 to 1, got ${JSON.stringify(bad)}`, bad);
  }
  const similarity = { min: 0, max: 1, above: true, what: 'a similarity' };
  assert.throws(() => fractionOption('0', '--threshold', undefined, similarity), /--threshold must be a similarity above 0 and at most 1, got "0"/);
  assert.equal(fractionOption('1', '--threshold', undefined, similarity), 1);
  const rate = { min: 0, max: 0.5, above: true, below: true, what: 'a fraction' };
  assert.throws(() => fractionOption('0.5', '--reject-rate', undefined, rate), /--reject-rate must be a fraction above 0 and below 0\.5, got "0\.5"/);
  assert.equal(fractionOption('0.49', '--reject-rate', undefined, rate), 0.49);
});

test("settings from the environment: a Kubernetes Service's link variable (RESNET_SERVE_PORT=tcp://…) is not --port", () => {
  const env = { RESNET_SERVE_PORT: 'tcp://10.96.12.34:80', RESNET_SERVE_PORT_80_TCP: 'tcp://10.96.12.34:80', RESNET_SERVE_SERVICE_HOST: '10.96.12.34', RESNET_SERVE_MAX_BATCH: '8' };
  const values = withEnvironment({} as Parsed, env);
  assert.equal(values.port, undefined);
  assert.equal(values['max-batch'], '8');
  assert.equal(withEnvironment({} as Parsed, { RESNET_SERVE_PORT: '9000' }).port, '9000', 'a real setting still counts');
  assert.equal(withEnvironment({ port: '7000' } as Parsed, { RESNET_SERVE_PORT: '9000' }).port, '7000', 'the command line wins');
});

test('RESNET_SERVE_CALIBRATE is a setting of int8 runs: an fp32 run, on the command line or by default, leaves it aside; given on the command line with fp32 it is refused', () => {
  const env = { RESNET_SERVE_PRECISION: 'int8', RESNET_SERVE_CALIBRATE: '/photos/calibration' };
  assert.equal(withEnvironment({} as Parsed, env).calibrate, '/photos/calibration');
  assert.equal(withEnvironment({ precision: 'INT8' } as Parsed, { RESNET_SERVE_CALIBRATE: '/photos/calibration' }).calibrate, '/photos/calibration');
  const fp32 = withEnvironment({ precision: 'fp32' } as Parsed, env);
  assert.equal(fp32.calibrate, undefined);
  assert.equal(modelOptions(fp32).precision, 'fp32');
  assert.equal(withEnvironment({} as Parsed, { RESNET_SERVE_CALIBRATE: '/photos/calibration' }).calibrate, undefined, 'fp32 by default');
  const given = withEnvironment({ precision: 'fp32', calibrate: '/mine' } as Parsed, env);
  assert.throws(() => modelOptions(given), (err: unknown) => err instanceof UsageError && /--calibrate goes with --precision int8/.test(err.message));
});

test('--precision as people write it (INT8) is int8; an empty --calibrate is refused by name', () => {
  assert.equal(modelOptions({ precision: 'INT8' } as Parsed).precision, 'int8');
  assert.equal(modelOptions({ precision: 'Fp32' } as Parsed).precision, 'fp32');
  assert.throws(() => modelOptions({ precision: 'int4' } as Parsed), (err: unknown) => err instanceof UsageError && /--precision must be fp32 or int8, got "int4"/.test(err.message));
  assert.throws(() => modelOptions({ precision: 'int8', calibrate: '' } as Parsed), (err: unknown) => err instanceof UsageError && /--calibrate needs a folder/.test(err.message));
});

test('a model name as people write it (ResNet50, resnet-18) is the name; a path, or any other word, stays as given', () => {
  assert.equal(modelOptions({ model: 'ResNet50' } as Parsed).model, 'resnet50');
  assert.equal(modelOptions({ model: 'resnet-18' } as Parsed).model, 'resnet18');
  assert.equal(modelOptions({ model: 'resnet81' } as Parsed).model, 'resnet81');
  assert.equal(modelOptions({ model: '/photos/ResNet50.onnx' } as Parsed).model, '/photos/ResNet50.onnx');
  assert.equal(modelOptions({} as Parsed).model, undefined);
});

test('serve --head takes NAME=FILE or a FILE alone, named by its file name without .json', () => {
  assert.deepEqual(headOptions(undefined), {});
  assert.deepEqual(headOptions(['bugs=heads/b.json', 'heads/defects.json', '/srv/家里.JSON', 'x=a=b.json']), { bugs: 'heads/b.json', defects: 'heads/defects.json', 家里: '/srv/家里.JSON', x: 'a=b.json' });
  for (const [bad, message] of [
    ['=b.json', /--head takes NAME=FILE or FILE/],
    ['bugs=', /--head takes NAME=FILE or FILE/],
    ['heads/.json', /give NAME=heads\/\.json/],
  ] as const) assert.throws(() => headOptions([bad]), (err: Error) => err instanceof UsageError && message.test(err.message), bad);
  assert.throws(() => headOptions(['a/bugs.json', 'bugs=b/bugs.json']), /--head bugs is given twice/);
});

test('--lang as people write it (ZH, En) is the language; anything else names what it takes', () => {
  assert.equal(langOption('ZH', 'en'), 'zh');
  assert.equal(langOption('Both', 'en'), 'both');
  assert.equal(langOption(undefined, 'en'), 'en');
  assert.throws(() => langOption('fr', 'en'), (err: Error) => err instanceof UsageError && err.message === '--lang must be en, zh or both, got "fr"');
});

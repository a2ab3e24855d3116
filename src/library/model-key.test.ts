import assert from 'node:assert/strict';
import { test } from 'node:test';
import { libraryModelKey, modelName, parseLibraryModelKey } from './model-key.js';

const SHA = 'ab'.repeat(32);

test('a model key says the weights, and for int8 the calibration; read back as it was written', () => {
  assert.equal(libraryModelKey({ sha256: SHA, precision: 'fp32' }), SHA);
  assert.equal(libraryModelKey({ sha256: SHA, precision: 'int8' }), `${SHA}+int8`, 'given quantised: no calibration');
  const calibrated = libraryModelKey({ sha256: SHA, precision: 'int8', calibration: { folder: null, id: '0123456789abcdef' } });
  assert.equal(calibrated, `${SHA}+int8:0123456789abcdef`);
  assert.deepEqual(parseLibraryModelKey(SHA), { sha256: SHA, precision: 'fp32', calibrationId: null });
  assert.deepEqual(parseLibraryModelKey(`${SHA}+int8`), { sha256: SHA, precision: 'int8', calibrationId: null });
  assert.deepEqual(parseLibraryModelKey(calibrated), { sha256: SHA, precision: 'int8', calibrationId: '0123456789abcdef' });
});

test('messages tell two calibrations of one model apart', () => {
  assert.equal(modelName('resnet18', SHA), 'resnet18 (sha256 abababababab)');
  assert.equal(modelName('resnet18', `${SHA}+int8`), 'resnet18 (sha256 abababababab, int8)');
  assert.equal(modelName('resnet18', `${SHA}+int8:0123456789abcdef`), 'resnet18 (sha256 abababababab, int8 calibrated as 01234567)');
  assert.notEqual(modelName('resnet18', `${SHA}+int8:0123456789abcdef`), modelName('resnet18', `${SHA}+int8:fedcba9876543210`));
});

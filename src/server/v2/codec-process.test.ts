import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ResnetServeError } from '../../errors.js';
import type { DecodeTask } from './codec-child.js';
import type { ModelSignature } from './codec.js';
import { CodecProcess } from './codec-process.js';

const model: ModelSignature = {
  name: 'tiny',
  input: { name: 'input', datatype: 'FP32', shape: [-1, 3, 2, 2] },
  outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
};
const task = (json: string): DecodeTask => ({ body: new TextEncoder().encode(json), model, maxBatch: 4, numClasses: 10 });
const values = Array.from({ length: 12 }, (_, i) => i / 8);
const request = (data: unknown): string => JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 2, 2], datatype: 'FP32', data }] });
const codes = (code: string) => (err: unknown) => err instanceof ResnetServeError && err.code === code;

describe('CodecProcess: large v2 JSON parsed in a child process', () => {
  const codecs: CodecProcess[] = [];
  const make = (options?: ConstructorParameters<typeof CodecProcess>[0]): CodecProcess => {
    const codec = new CodecProcess(options);
    codecs.push(codec);
    return codec;
  };
  after(() => codecs.forEach((c) => c.close()));

  test('reads a flat or nested tensor, answers a malformed one with its typed error, and ends the child once idle', async () => {
    const codec = make({ idleMs: 100 });
    const flat = await codec.decode(task(request(values)));
    assert.ok(flat.ok && flat.request.input.kind === 'tensor');
    assert.deepEqual(Array.from(flat.request.input.data), values);
    const nested = await codec.decode(task(request([[[values.slice(0, 2), values.slice(2, 4)], [values.slice(4, 6), values.slice(6, 8)], [values.slice(8, 10), values.slice(10, 12)]]])));
    assert.ok(nested.ok && nested.request.input.kind === 'tensor');
    assert.deepEqual(Array.from(nested.request.input.data), values);
    const wrong = await codec.decode(task(request(values.slice(1))));
    assert.equal(wrong.ok, false);
    assert.ok(!wrong.ok && wrong.code === 'BAD_REQUEST' && /needs 12 values, got 11/.test(wrong.message), JSON.stringify(wrong));
    assert.equal(codec.running, true);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(codec.running, false, 'the child exits after its idle time');
  });

  test('a body that needs more memory than the child may use gets 413; the next body gets a new child', async () => {
    const codec = make({ heapMb: 32 });
    // 3 million numbers after a string: each becomes a boxed heap number (about 24 bytes), 72 MB in all.
    const hungry = `{"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"FP32","data":["x"${',0.5'.repeat(3_000_000)}]}]}`;
    await assert.rejects(codec.decode(task(hungry)), codes('PAYLOAD_TOO_LARGE'));
    const next = await codec.decode(task(request(values)));
    assert.ok(next.ok && next.request.input.kind === 'tensor');
    assert.deepEqual(Array.from(next.request.input.data), values);
  });

  test('more arrays than any batch needs is refused before parsing (16 MB of empty arrays would need over 200 MB)', async () => {
    const codec = make();
    const bomb = `{"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"FP32","data":[${'[],'.repeat(5_000_000)}[]]}]}`;
    const reply = await codec.decode(task(bomb));
    assert.ok(!reply.ok && reply.code === 'BAD_REQUEST' && /more than \d+ arrays and objects/.test(reply.message), JSON.stringify(reply).slice(0, 300));
  });

  test('an abort ends the parse with its reason and the child with it; a later body is read; a close ends the one in progress and refuses later ones with NOT_READY', async () => {
    const codec = make();
    const controller = new AbortController();
    const slow = codec.decode(task(`{"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"FP32","data":[${'0.25,'.repeat(4_000_000)}0.25]}]}`), controller.signal);
    setTimeout(() => controller.abort(new ResnetServeError('TIMEOUT', 'The client went away')), 50);
    await assert.rejects(slow, codes('TIMEOUT'));
    assert.equal(codec.running, false);
    const next = await codec.decode(task(request(values)));
    assert.ok(next.ok);
    const cut = codec.decode(task(`{"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"FP32","data":[${'0.25,'.repeat(4_000_000)}0.25]}]}`));
    setTimeout(() => codec.close(), 50);
    await assert.rejects(cut, codes('NOT_READY'));
    await assert.rejects(codec.decode(task(request(values))), codes('NOT_READY'));
  });
});

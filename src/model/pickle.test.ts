import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { PickleWriter, stateDictPickle } from '../testing/pickle-writer.js';
import { unpickle, type PyCallable, type UnpickleResolver } from './pickle.js';

const orderedDict: PyCallable = { pyName: 'collections.OrderedDict', call: () => new Map() };
const resolver: UnpickleResolver = {
  findGlobal: (module, name) => (module === 'collections' && name === 'OrderedDict' ? orderedDict : undefined),
};

/** Resolves the globals of a state_dict pickle to inert markers. */
const torchResolver: UnpickleResolver = {
  findGlobal: (m, n) => (m === 'collections' ? orderedDict : m.startsWith('torch') ? { pyName: `${m}.${n}`, call: () => ({}) } : undefined),
  persistentLoad: () => ({}),
};

function refused(bytes: Buffer, code: 'PICKLE_FORBIDDEN' | 'PICKLE_INVALID', mention?: RegExp, r: UnpickleResolver = resolver): void {
  assert.throws(() => unpickle(bytes, r), (err: unknown) => isResnetServeError(err) && err.code === code && (!mention || mention.test(err.message)));
}

test('reads dicts, tuples, lists, ints, strings, booleans and memo references', () => {
  const w = new PickleWriter().proto(2).emptyDict().op(0x71, 0); // BINPUT 0
  w.mark().str('a').int(1).str('b').int(300).str('c').int(100000).str('t').mark().bool(true).op(0x4e).str('é').tuple();
  w.str('l').op(0x5d).mark().int(5).int(6).op(0x65); // EMPTY_LIST, MARK, …, APPENDS
  w.str('self').op(0x68, 0); // BINGET 0
  w.setItems().stop();
  const v = unpickle(w.bytes(), resolver) as Map<string, unknown>;
  assert.equal(v.get('a'), 1);
  assert.equal(v.get('b'), 300);
  assert.equal(v.get('c'), 100000);
  assert.deepEqual(v.get('t'), [true, null, 'é']);
  assert.deepEqual(v.get('l'), [5, 6]);
  assert.equal(v.get('self'), v);
});

test('reads the layout torch.save writes for a state_dict', () => {
  const bytes = stateDictPickle([{ name: 'fc.bias', storageKey: '0', shape: [3] }]);
  const loads: unknown[] = [];
  const v = unpickle(bytes, {
    findGlobal: (m, n) => {
      if (m === 'collections' && n === 'OrderedDict') return orderedDict;
      if (m === 'torch._utils' && n === '_rebuild_tensor_v2') return { pyName: n, call: (args) => ({ rebuilt: args.slice(0, 4) }) };
      if (m === 'torch' && n === 'FloatStorage') return { storage: 'float' };
      return undefined;
    },
    persistentLoad: (pid) => {
      loads.push(pid);
      return { storageFor: (pid as unknown[])[2] };
    },
  }) as Map<string, { rebuilt: unknown[] }>;
  assert.deepEqual([...v.keys()], ['fc.bias']);
  assert.deepEqual(v.get('fc.bias')?.rebuilt, [{ storageFor: '0' }, 0, [3], [1]]);
  assert.deepEqual(loads, [['storage', { storage: 'float' }, '0', 'cpu', 3]]);
});

test('refuses os.system / posix.system, naming the global, and never calls anything', () => {
  let called = false;
  const r: UnpickleResolver = { findGlobal: () => { called = true; return undefined; } };
  const attack = new PickleWriter().proto(2).global('posix', 'system').mark().str('touch /tmp/pwned').tuple().reduce().stop().bytes();
  refused(attack, 'PICKLE_FORBIDDEN', /posix\.system/, r);
  assert.equal(called, true); // asked, refused, nothing run
  refused(new PickleWriter().proto(2).global('os', 'system').stop().bytes(), 'PICKLE_FORBIDDEN', /os\.system/);
  refused(new PickleWriter().proto(2).global('builtins', 'eval').mark().str('1+1').tuple().reduce().stop().bytes(), 'PICKLE_FORBIDDEN', /builtins\.eval/);
  // STACK_GLOBAL (protocol 4) goes through the same allow-list.
  refused(new PickleWriter().proto(4).str('subprocess').str('Popen').op(0x93).stop().bytes(), 'PICKLE_FORBIDDEN', /subprocess\.Popen/);
});

test('refuses object-building opcodes and REDUCE on a non-global', () => {
  refused(new PickleWriter().proto(2).mark().op(0x69, ...Buffer.from('os\nsystem\n')).stop().bytes(), 'PICKLE_FORBIDDEN', /INST/);
  refused(new PickleWriter().proto(2).global('collections', 'OrderedDict').emptyTuple().op(0x81).stop().bytes(), 'PICKLE_FORBIDDEN', /NEWOBJ/);
  refused(new PickleWriter().proto(2).str('not callable').emptyTuple().reduce().stop().bytes(), 'PICKLE_FORBIDDEN');
  // BUILD on something that is not a dict would set attributes of an object.
  refused(new PickleWriter().proto(2).op(0x5d).emptyDict().build().stop().bytes(), 'PICKLE_FORBIDDEN');
});

test('a huge declared size is refused before anything is allocated', () => {
  const huge = new PickleWriter().proto(2).op(0x58, 0xf0, 0xff, 0xff, 0x7f).op(0x61, 0x62).stop().bytes();
  const start = process.memoryUsage().rss;
  refused(huge, 'PICKLE_INVALID', /ends early/);
  assert.ok(process.memoryUsage().rss - start < 256 * 1024 * 1024);
  refused(new PickleWriter().proto(4).op(0x8d, 0, 0, 0, 0, 0, 0, 0, 0x7f).stop().bytes(), 'PICKLE_INVALID');
});

test('truncated and malformed streams are refused', () => {
  const good = stateDictPickle([{ name: 'w', storageKey: '0', shape: [2, 2] }]);
  assert.ok(unpickle(good, torchResolver) instanceof Map);
  for (const cut of [1, 5, 40, good.length - 1]) refused(good.subarray(0, cut), 'PICKLE_INVALID', undefined, torchResolver);
  refused(Buffer.from([0x80, 0x02, 0xff]), 'PICKLE_INVALID', /unknown opcode/);
  refused(Buffer.from([0x80, 0x02, 0x30]), 'PICKLE_INVALID', /underflow/);
  refused(Buffer.from([0x80, 0x02, 0x68, 0x05, 0x2e]), 'PICKLE_INVALID', /memo/);
});

test('deep nesting is bounded, not a stack overflow', () => {
  const deep = new PickleWriter().proto(2);
  for (let i = 0; i < 100_000; i++) deep.mark();
  refused(deep.stop().bytes(), 'PICKLE_INVALID', /nesting/);
  const lists = new PickleWriter().proto(2);
  for (let i = 0; i < 50_000; i++) lists.op(0x5d);
  for (let i = 0; i < 49_999; i++) lists.op(0x61);
  const nested = unpickle(lists.stop().bytes(), resolver);
  assert.ok(Array.isArray(nested));
});

test('__reduce__ tricks through allowed globals are refused', () => {
  const strict: UnpickleResolver = {
    findGlobal: (m, n) => (m === 'collections' && n === 'OrderedDict' ? orderedDict : undefined),
  };
  // A storage class used as a callable, and a dict used as a callable, are not functions to call.
  refused(new PickleWriter().proto(2).emptyDict().mark().str('x').tuple().reduce().stop().bytes(), 'PICKLE_FORBIDDEN', undefined, strict);
  // An allowed global smuggled through the memo and called with a hostile global as its argument.
  refused(new PickleWriter().proto(2).global('collections', 'OrderedDict').op(0x71, 0).op(0x68, 0).mark().global('os', 'system').tuple().reduce().stop().bytes(), 'PICKLE_FORBIDDEN', /os\.system/, strict);
  // NEWOBJ_EX, EXT codes and PERSID (text) never run.
  for (const op of [0x92, 0x82, 0x50]) refused(new PickleWriter().proto(4).op(op, 1, 0, 0, 0).stop().bytes(), 'PICKLE_FORBIDDEN', undefined, strict);
});

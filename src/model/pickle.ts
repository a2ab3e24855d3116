/**
 * A restricted Python unpickler for PyTorch state_dicts.
 *
 * Why hand-written: no npm library reads PyTorch checkpoints, and a general
 * unpickler is a remote-code-execution hole (a pickle can call any Python
 * global). This one is a small stack machine that understands only the opcodes
 * `torch.save(state_dict)` emits (protocols 2–5, binary forms) and resolves only
 * the globals its caller allows. Every other global is refused with an error
 * naming it, and nothing is ever executed: allowed globals map to plain
 * TypeScript functions that build data.
 *
 * Bounds keep hostile input cheap: lengths are checked against the bytes that
 * remain before anything is allocated, and the stack, memo, nesting and
 * container sizes are capped.
 */
import { ResnetServeError } from '../errors.js';

/** A Python tuple, as a frozen array. */
export type PyTuple = readonly PyValue[];
/** A value the restricted unpickler can produce. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | Map<PyValue, PyValue>
  | PyCallable
  | object;

/** A Python global the caller allowed, as a builder of plain data. */
export interface PyCallable {
  readonly pyName: string;
  call(args: readonly PyValue[]): PyValue;
}

/** What the unpickler may resolve, supplied by the caller. */
export interface UnpickleResolver {
  /** Returns the allowed global `module.name`, or undefined to refuse it. */
  findGlobal(module: string, name: string): PyCallable | object | undefined;
  /** Resolves a persistent id (`BINPERSID`), or throws. */
  persistentLoad?(pid: PyValue): PyValue;
}

/** Caps on what one pickle may build. */
export interface UnpickleLimits {
  maxStack: number;
  maxMemo: number;
  maxMarkDepth: number;
  maxContainer: number;
}

export const DEFAULT_UNPICKLE_LIMITS: UnpickleLimits = {
  maxStack: 1_000_000,
  maxMemo: 1_000_000,
  maxMarkDepth: 10_000,
  maxContainer: 10_000_000,
};

const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

function invalid(message: string): ResnetServeError {
  return new ResnetServeError('PICKLE_INVALID', `Checkpoint pickle is not valid: ${message}`);
}

/** True for objects built by an allowed global (callables themselves excluded). */
function isCallable(v: PyValue): v is PyCallable {
  return typeof v === 'object' && v !== null && typeof (v as PyCallable).call === 'function' && typeof (v as PyCallable).pyName === 'string';
}

class Reader {
  pos = 0;
  constructor(private readonly bytes: Uint8Array) {}
  private need(n: number): void {
    if (n < 0 || this.pos + n > this.bytes.length) {
      throw invalid(`data ends early: ${n} bytes declared at offset ${this.pos}, ${this.bytes.length - this.pos} remain`);
    }
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }
  uint(n: 2 | 4): number {
    this.need(n);
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + this.bytes[this.pos + i];
    this.pos += n;
    return v;
  }
  u64(): number {
    const lo = this.uint(4);
    const hi = this.uint(4);
    if (hi > 0x1fffff) throw invalid('declared length is absurd');
    return hi * 2 ** 32 + lo;
  }
  i32(): number {
    const v = this.uint(4);
    return v >= 2 ** 31 ? v - 2 ** 32 : v;
  }
  f64be(): number {
    this.need(8);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getFloat64(0, false);
    this.pos += 8;
    return v;
  }
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > 256) throw invalid('unterminated text argument');
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
}

function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * Unpickles `bytes` into plain values, resolving globals only through
 * `resolver`. Throws PICKLE_FORBIDDEN for a refused global or opcode that
 * would build arbitrary objects, PICKLE_INVALID for malformed data.
 */
export function unpickle(bytes: Uint8Array, resolver: UnpickleResolver, limits: UnpickleLimits = DEFAULT_UNPICKLE_LIMITS): PyValue {
  const r = new Reader(bytes);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let stack: PyValue[] = [];
  const marks: PyValue[][] = [];
  const memo = new Map<number, PyValue>();

  const push = (v: PyValue): void => {
    if (stack.length >= limits.maxStack) throw invalid(`stack grows beyond ${limits.maxStack} items`);
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length === 0) throw invalid('stack underflow');
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0) throw invalid('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) throw invalid('MARK expected');
    stack = prev;
    return items;
  };
  const put = (key: number): void => {
    if (memo.size >= limits.maxMemo && !memo.has(key)) throw invalid(`memo grows beyond ${limits.maxMemo} entries`);
    memo.set(key, top());
  };
  const get = (key: number): void => {
    if (!memo.has(key)) throw invalid(`memo key ${key} is not defined`);
    push(memo.get(key) as PyValue);
  };
  const text = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      throw invalid('string is not valid UTF-8');
    }
  };
  const resolveGlobal = (module: string, name: string): void => {
    const found = resolver.findGlobal(module, name);
    if (found === undefined) {
      throw new ResnetServeError('PICKLE_FORBIDDEN', `Checkpoint refers to the Python global ${module}.${name}, which is not allowed in a state_dict; refusing to load it`);
    }
    push(found);
  };
  const asList = (v: PyValue, op: string): PyValue[] => {
    if (!Array.isArray(v) || Object.isFrozen(v)) throw invalid(`${op} on a value that is not a list`);
    return v;
  };
  const asDict = (v: PyValue, op: string): Map<PyValue, PyValue> => {
    if (!(v instanceof Map)) throw invalid(`${op} on a value that is not a dict`);
    return v;
  };
  const setItems = (dict: Map<PyValue, PyValue>, items: PyValue[]): void => {
    if (items.length % 2 !== 0) throw invalid('SETITEMS with an odd number of items');
    if (dict.size + items.length / 2 > limits.maxContainer) throw invalid('dict is too large');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };
  const tuple = (items: PyValue[]): PyTuple => Object.freeze(items);

  for (;;) {
    const op = r.u8();
    switch (op) {
      case 0x80: { // PROTO
        const proto = r.u8();
        if (proto > 5) throw invalid(`unsupported pickle protocol ${proto}`);
        break;
      }
      case 0x95: r.u64(); break; // FRAME: a length hint only
      case 0x2e: { // STOP
        if (marks.length) throw invalid('unclosed MARK at STOP');
        return pop();
      }
      case 0x28: // MARK
        if (marks.length >= limits.maxMarkDepth) throw invalid(`nesting deeper than ${limits.maxMarkDepth}`);
        marks.push(stack);
        stack = [];
        break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(r.i32()); break; // BININT
      case 0x4b: push(r.u8()); break; // BININT1
      case 0x4d: push(r.uint(2)); break; // BININT2
      case 0x8a: push(decodeLong(r.take(r.u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = r.i32();
        if (n < 0 || n > 64) throw invalid(`integer of ${n} bytes is not plausible in a state_dict`);
        push(decodeLong(r.take(n)));
        break;
      }
      case 0x47: push(r.f64be()); break; // BINFLOAT
      case 0x58: push(text(r.take(r.uint(4)))); break; // BINUNICODE
      case 0x8c: push(text(r.take(r.u8()))); break; // SHORT_BINUNICODE
      case 0x8d: push(text(r.take(r.u64()))); break; // BINUNICODE8
      case 0x55: push(text(r.take(r.u8()))); break; // SHORT_BINSTRING
      case 0x54: push(text(r.take(r.i32()))); break; // BINSTRING
      case 0x43: push(r.take(r.u8()).slice()); break; // SHORT_BINBYTES
      case 0x42: push(r.take(r.uint(4)).slice()); break; // BINBYTES
      case 0x8e: push(r.take(r.u64()).slice()); break; // BINBYTES8
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(tuple([])); break; // EMPTY_TUPLE
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x6c: { const items = popMark(); push(items); break; } // LIST
      case 0x74: { const items = popMark(); push(tuple(items)); break; } // TUPLE
      case 0x85: push(tuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push(tuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push(tuple([a, b, c])); break; } // TUPLE3
      case 0x64: { const items = popMark(); const d = new Map<PyValue, PyValue>(); setItems(d, items); push(d); break; } // DICT
      case 0x61: { const v = pop(); asList(top(), 'APPEND').push(v); break; } // APPEND
      case 0x65: { // APPENDS
        const items = popMark();
        const list = asList(top(), 'APPENDS');
        if (list.length + items.length > limits.maxContainer) throw invalid('list is too large');
        for (const v of items) list.push(v);
        break;
      }
      case 0x73: { const v = pop(); const k = pop(); asDict(top(), 'SETITEM').set(k, v); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(asDict(top(), 'SETITEMS'), items); break; } // SETITEMS
      case 0x68: get(r.u8()); break; // BINGET
      case 0x6a: get(r.uint(4)); break; // LONG_BINGET
      case 0x71: put(r.u8()); break; // BINPUT
      case 0x72: put(r.uint(4)); break; // LONG_BINPUT
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x63: { // GLOBAL
        const module = r.line();
        const name = r.line();
        resolveGlobal(module, name);
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw invalid('STACK_GLOBAL needs two strings');
        resolveGlobal(module, name);
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!Array.isArray(args)) throw invalid('REDUCE arguments are not a tuple');
        if (!isCallable(fn)) throw new ResnetServeError('PICKLE_FORBIDDEN', 'Checkpoint calls a value that is not an allowed global; refusing to load it');
        push(fn.call(args));
        break;
      }
      case 0x62: { // BUILD: state is recorded on dicts (OrderedDict._metadata) and ignored otherwise
        const state = pop();
        const obj = top();
        if (!(obj instanceof Map)) throw new ResnetServeError('PICKLE_FORBIDDEN', 'Checkpoint sets the state of an object that is not a dict; refusing to load it');
        if (state !== null && !(state instanceof Map)) throw invalid('BUILD state is not a dict');
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!resolver.persistentLoad) throw invalid('persistent ids are not expected here');
        push(resolver.persistentLoad(pid));
        break;
      }
      default: {
        const name = OPCODE_NAMES[op];
        if (name) throw new ResnetServeError('PICKLE_FORBIDDEN', `Checkpoint pickle uses opcode ${name}, which a state_dict does not need; refusing to load it`);
        throw invalid(`unknown opcode 0x${op.toString(16).padStart(2, '0')} at offset ${r.pos - 1}`);
      }
    }
  }
}

/**
 * Test helper: writes pickle streams opcode by opcode, including the layout
 * `torch.save(state_dict)` produces, and hostile ones for the unpickler tests.
 */

export class PickleWriter {
  private readonly parts: number[] = [];

  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }

  private u32(n: number): number[] {
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  }

  proto(version = 2): this {
    return this.op(0x80, version);
  }

  global(module: string, name: string): this {
    return this.op(0x63, ...Buffer.from(`${module}\n${name}\n`, 'utf8'));
  }

  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.op(0x58, ...this.u32(b.length), ...b);
  }

  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n);
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8);
    return this.op(0x4a, ...this.u32(n));
  }

  mark(): this { return this.op(0x28); }
  tuple(): this { return this.op(0x74); }
  emptyTuple(): this { return this.op(0x29); }
  emptyDict(): this { return this.op(0x7d); }
  reduce(): this { return this.op(0x52); }
  setItems(): this { return this.op(0x75); }
  build(): this { return this.op(0x62); }
  persId(): this { return this.op(0x51); }
  bool(v: boolean): this { return this.op(v ? 0x88 : 0x89); }
  stop(): this { return this.op(0x2e); }

  bytes(): Buffer {
    return Buffer.from(this.parts);
  }
}

/** One tensor entry of a state_dict pickle: float32 storage `key`, contiguous `shape`. */
export interface TensorEntry {
  name: string;
  storageKey: string;
  shape: number[];
  storage?: 'FloatStorage' | 'LongStorage';
  /** Strides in elements; row-major when omitted. */
  stride?: number[];
  /** Elements the storage declares; the shape's product when omitted. */
  storageNumel?: number;
}

/** The pickle `torch.save(OrderedDict(...))` writes for the given tensors (protocol 2). */
export function stateDictPickle(entries: readonly TensorEntry[]): Buffer {
  const w = new PickleWriter().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  for (const e of entries) {
    const numel = e.storageNumel ?? e.shape.reduce((a, b) => a * b, 1);
    const strides = e.stride ?? e.shape.map((_, i) => e.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    w.str(e.name).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', e.storage ?? 'FloatStorage').str(e.storageKey).str('cpu').int(numel).tuple().persId();
    w.int(0).mark();
    for (const d of e.shape) w.int(d);
    w.tuple().mark();
    for (const s of strides) w.int(s);
    w.tuple().bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  }
  w.setItems();
  // OrderedDict state: {'_metadata': OrderedDict()} as torch.save writes it.
  w.emptyDict().str('_metadata').global('collections', 'OrderedDict').emptyTuple().reduce().op(0x73).build();
  return w.stop().bytes();
}

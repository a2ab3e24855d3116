/**
 * Reads a PyTorch checkpoint (`torch.save` zip format, as torchvision's
 * official weights are) into named float tensors, without Python.
 *
 * The zip container is read with yauzl, which refuses `..` paths and entries
 * whose sizes disagree with their headers. `<archive>/data.pkl` is unpickled by
 * our restricted unpickler (see pickle.ts) with only the globals a state_dict
 * needs; tensor storages are the `<archive>/data/<key>` entries.
 */
import { fromHalf } from '../float16.js';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { ResnetServeError } from '../errors.js';
import { unpickle, type PyCallable, type PyValue } from './pickle.js';

/** Element types a checkpoint storage may hold. */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const STORAGE_TYPES: Record<string, { dtype: DType; bytes: number }> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

/** A tensor read from a checkpoint, as float32 (integers kept as numbers). */
export interface Tensor {
  dtype: DType;
  shape: number[];
  /** Row-major values; integer and bool tensors are widened to float64-safe numbers. */
  data: Float32Array;
}

/** A named set of tensors, in checkpoint order. */
export type StateDict = Map<string, Tensor>;

/** Limits for reading untrusted checkpoints. */
export interface CheckpointLimits {
  maxEntries: number;
  maxPickleBytes: number;
  maxTotalBytes: number;
}

/** Largest single tensor, in elements (ResNet-152's largest is 2.4 M; this allows 32 M, 128 MB as float32). */
const MAX_TENSOR_ELEMENTS = 1 << 25;

export const DEFAULT_CHECKPOINT_LIMITS: CheckpointLimits = {
  maxEntries: 100_000,
  maxPickleBytes: 64 * 1024 * 1024,
  maxTotalBytes: 4 * 1024 * 1024 * 1024,
};

interface StorageType { readonly storage: string; dtype: DType; bytes: number }
interface StorageRef { readonly kind: 'storage'; key: string; type: StorageType; numel: number }
interface TensorRef { readonly kind: 'tensor'; storage: StorageRef; offset: number; shape: number[]; stride: number[] }

function bad(message: string): ResnetServeError {
  return new ResnetServeError('MODEL_INVALID', message);
}

function isInt(v: PyValue): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function intTuple(v: PyValue, what: string): number[] {
  if (!Array.isArray(v) || !v.every(isInt)) throw bad(`Checkpoint tensor ${what} is not a tuple of non-negative integers`);
  return v as number[];
}

const callable = (pyName: string, call: (args: readonly PyValue[]) => PyValue): PyCallable => ({ pyName, call });

const GLOBALS: Record<string, PyCallable | StorageType> = {
  'collections.OrderedDict': callable('collections.OrderedDict', () => new Map()),
  'torch._utils._rebuild_tensor_v2': callable('torch._utils._rebuild_tensor_v2', (args) => {
    const [storage, offset, size, stride] = args;
    if (!storage || typeof storage !== 'object' || (storage as StorageRef).kind !== 'storage') throw bad('Checkpoint tensor has no storage');
    if (!isInt(offset)) throw bad('Checkpoint tensor offset is not an integer');
    const shape = intTuple(size, 'size');
    const strides = intTuple(stride, 'stride');
    if (shape.length !== strides.length || shape.length > 8) throw bad('Checkpoint tensor size and stride disagree');
    const ref: TensorRef = { kind: 'tensor', storage: storage as StorageRef, offset, shape, stride: strides };
    return ref;
  }),
  'torch._utils._rebuild_parameter': callable('torch._utils._rebuild_parameter', (args) => args[0]),
};
for (const [name, t] of Object.entries(STORAGE_TYPES)) GLOBALS[`torch.${name}`] = { storage: name, ...t };

function persistentLoad(pid: PyValue): StorageRef {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') throw bad('Checkpoint has a persistent id that is not a tensor storage');
  const [, type, key, , numel] = pid;
  if (!type || typeof type !== 'object' || typeof (type as StorageType).storage !== 'string') throw bad('Checkpoint storage type is not a torch storage class');
  if (typeof key !== 'string' || !/^[0-9A-Za-z_]+$/.test(key)) throw bad('Checkpoint storage key is not a plain name');
  if (!isInt(numel)) throw bad('Checkpoint storage size is not an integer');
  return { kind: 'storage', key, type: type as StorageType, numel };
}

/** The zip's entries (nothing read yet) and a reader for one entry, CRC-checked. */
async function openZip(bytes: Buffer, limits: CheckpointLimits): Promise<{ entries: Map<string, yauzl.Entry>; read: (entry: yauzl.Entry) => Promise<Buffer>; pickle: yauzl.Entry; prefix: string }> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(bytes, { lazyEntries: true, validateEntrySizes: true, strictFileNames: true });
  } catch (err) {
    throw new ResnetServeError('MODEL_INVALID', `Not a PyTorch checkpoint (zip container unreadable: ${(err as Error).message})`, { cause: err });
  }
  const entries = new Map<string, yauzl.Entry>();
  try {
    for await (const entry of zip.eachEntry()) {
      if (entries.size >= limits.maxEntries) throw bad(`Checkpoint has more than ${limits.maxEntries} entries`);
      entries.set(entry.fileName, entry);
    }
  } catch (err) {
    if (err instanceof ResnetServeError) throw err;
    throw bad(`Checkpoint zip is malformed: ${(err as Error).message}`);
  }
  const pickle = [...entries.values()].find((e) => /^[^/]+\/data\.pkl$/.test(e.fileName));
  if (!pickle) throw bad('Checkpoint has no data.pkl; only the zip format of torch.save (PyTorch >= 1.6) is read');
  if (pickle.uncompressedSize > limits.maxPickleBytes) throw bad(`Checkpoint data.pkl is ${pickle.uncompressedSize} bytes, above the limit of ${limits.maxPickleBytes}`);
  const read = async (entry: yauzl.Entry): Promise<Buffer> => {
    try {
      const stream = await zip.openReadStreamPromise(entry);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      const data = Buffer.concat(chunks);
      // yauzl does not check CRC-32; a damaged download must not load as silently wrong weights.
      if ((crc32(data) >>> 0) !== entry.crc32 >>> 0) throw bad(`Checkpoint entry ${entry.fileName} is corrupt (CRC-32 mismatch); download it again`);
      return data;
    } catch (err) {
      if (err instanceof ResnetServeError) throw err;
      throw bad(`Checkpoint zip entry is damaged: ${(err as Error).message}`);
    }
  };
  return { entries, read, pickle, prefix: pickle.fileName.slice(0, -'data.pkl'.length) };
}

function elementReader(bytes: Buffer, type: StorageType): (i: number) => number {
  switch (type.dtype) {
    case 'float32': return (i) => bytes.readFloatLE(i * 4);
    case 'float64': return (i) => bytes.readDoubleLE(i * 8);
    case 'float16': return (i) => fromHalf(bytes.readUInt16LE(i * 2));
    case 'bfloat16': {
      const view = new DataView(new ArrayBuffer(4));
      return (i) => {
        view.setUint32(0, bytes.readUInt16LE(i * 2) << 16);
        return view.getFloat32(0);
      };
    }
    case 'int64': return (i) => Number(bytes.readBigInt64LE(i * 8));
    case 'int32': return (i) => bytes.readInt32LE(i * 4);
    case 'int16': return (i) => bytes.readInt16LE(i * 2);
    case 'int8': return (i) => bytes.readInt8(i);
    case 'uint8':
    case 'bool': return (i) => bytes[i];
  }
}

/** Elements of a shape, refusing products no tensor of a classifier reaches. */
function elementCount(name: string, shape: readonly number[]): number {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(numel) || numel > MAX_TENSOR_ELEMENTS) throw bad(`Checkpoint tensor ${name} declares ${numel} elements, more than a model this size can hold`);
  return numel;
}

function materialize(name: string, ref: TensorRef, bytes: Buffer): Tensor {
  const { storage, offset, shape, stride } = ref;
  const numel = elementCount(name, shape);
  if (numel > 0) {
    const last = offset + shape.reduce((acc, n, i) => acc + (n - 1) * stride[i], 0);
    if (last >= storage.numel) throw bad(`Checkpoint tensor ${name} reaches past the end of its storage`);
  }
  const data = new Float32Array(numel);
  const get = elementReader(bytes, storage.type);
  const contiguous = shape.every((_, i) => stride[i] === shape.slice(i + 1).reduce((a, b) => a * b, 1) || shape[i] === 1);
  if (storage.type.dtype === 'float32' && contiguous && numel > 0) {
    const start = offset * 4;
    data.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + numel * 4)));
  } else {
    const index = new Array<number>(shape.length).fill(0);
    for (let i = 0; i < numel; i++) {
      let src = offset;
      for (let d = 0; d < shape.length; d++) src += index[d] * stride[d];
      data[i] = get(src);
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++index[d] < shape[d]) break;
        index[d] = 0;
      }
    }
  }
  return { dtype: storage.type.dtype, shape: [...shape], data };
}

function isTensorRef(v: PyValue): v is TensorRef {
  return typeof v === 'object' && v !== null && (v as TensorRef).kind === 'tensor';
}

/** Picks the state_dict out of a checkpoint: the top-level dict, or its `state_dict`/`model` entry. */
function findStateDict(root: PyValue): Map<PyValue, PyValue> {
  if (!(root instanceof Map)) throw bad('Checkpoint does not hold a state_dict (its top level is not a dict)');
  for (const key of ['state_dict', 'model']) {
    const inner = root.get(key);
    if (inner instanceof Map && [...inner.values()].some(isTensorRef)) return inner;
  }
  return root;
}

/** What a checkpoint declares before any weight is read: each tensor's shape. */
export type DeclaredShapes = Map<string, readonly number[]>;

/**
 * Reads a `torch.save` zip checkpoint holding a state_dict. Only `data.pkl`
 * is read first; `checkShapes` (e.g. the architecture check) then sees every
 * declared shape before a single weight is read or allocated, and only the
 * storages the state_dict references are read, each checked against its
 * declared size. Throws MODEL_INVALID for a malformed container or tensor,
 * PICKLE_FORBIDDEN / PICKLE_INVALID for a hostile or broken pickle.
 */
export async function readCheckpoint(bytes: Buffer, options: { limits?: CheckpointLimits; checkShapes?: (shapes: DeclaredShapes) => void } = {}): Promise<StateDict> {
  const limits = options.limits ?? DEFAULT_CHECKPOINT_LIMITS;
  const zip = await openZip(bytes, limits);
  const byteorderEntry = zip.entries.get(`${zip.prefix}byteorder`);
  const byteorder = byteorderEntry ? (await zip.read(byteorderEntry)).toString('latin1').trim() : 'little';
  if (byteorder !== 'little') throw bad(`Checkpoint byte order is ${byteorder}; only little-endian checkpoints are read`);
  const root = unpickle(await zip.read(zip.pickle), {
    findGlobal: (module, name) => GLOBALS[`${module}.${name}`],
    persistentLoad,
  });
  const refs = new Map<string, TensorRef>();
  for (const [key, value] of findStateDict(root)) {
    if (typeof key !== 'string') throw bad('Checkpoint state_dict has a key that is not a string');
    if (!isTensorRef(value)) throw bad(`Checkpoint state_dict entry ${key} is not a tensor`);
    elementCount(key, value.shape);
    refs.set(key.startsWith('module.') ? key.slice(7) : key, value);
  }
  options.checkShapes?.(new Map([...refs].map(([k, r]) => [k, r.shape])));

  // Only the storages the state_dict references are read, each once, and each must hold what it declares.
  const storages = new Map<string, Buffer>();
  let total = 0;
  for (const ref of refs.values()) {
    const { key, numel, type } = ref.storage;
    if (storages.has(key)) continue;
    const entry = zip.entries.get(`${zip.prefix}data/${key}`);
    if (!entry) throw bad(`Checkpoint refers to storage data/${key}, which is missing`);
    const declared = numel * type.bytes;
    if (entry.uncompressedSize < declared) throw bad(`Checkpoint storage data/${key} is shorter than it declares (${entry.uncompressedSize} of ${declared} bytes)`);
    total += entry.uncompressedSize;
    if (total > limits.maxTotalBytes) throw bad(`Checkpoint weights take more than ${limits.maxTotalBytes} bytes`);
    storages.set(key, await zip.read(entry));
  }
  // Views may repeat storage elements (stride 0), but not to blow a small file up into gigabytes.
  const stored = [...refs.values()].reduce((sum, r) => sum + (storages.has(r.storage.key) ? r.storage.numel : 0), 0);
  const viewed = [...refs.values()].reduce((sum, r) => sum + r.shape.reduce((a, b) => a * b, 1), 0);
  if (viewed > 2 * stored + (1 << 20)) throw bad(`Checkpoint tensors declare ${viewed} elements over ${stored} stored ones (expanded views); refused`);
  const out: StateDict = new Map();
  for (const [key, ref] of refs) out.set(key, materialize(key, ref, storages.get(ref.storage.key) as Buffer));
  return out;
}

/**
 * Look-alike search over a library's embeddings, by brute force: every
 * query is compared with every photo. `npm run bench:vectors` measured it
 * against sqlite-vec, the vector extension for SQLite: at 100,000 photos a
 * query takes ~21 ms here and ~90–120 ms in sqlite-vec (whose vec0 tables are
 * also brute force), so the vectors stay in the index as int8 and are
 * compared in memory (N × 512 bytes: 51 MB at 100,000 photos) by ONNX
 * Runtime's integer matrix product (MatMulInteger, u8 × s8: the kernel it
 * optimises for quantised models, fed 7-bit values so it never saturates)
 * and TopK, through a small graph built here. Similarities are cosines
 * within ~2e-3.
 */
import ort from '../model/ort.js';
import { encodeOnnxModel } from '../model/onnx-proto.js';
import { fromUnitInt8Bytes } from '../heads/vectors.js';

/** One neighbour. */
export interface Neighbour {
  row: number;
  similarity: number;
}

let sessionPromise: Promise<ort.InferenceSession> | null = null;

/**
 * The graph: for each query (a column of `queries`), the `k` library rows
 * most alike and their similarities: TopK over rows of
 * ((library − 128) · queries) × row scales.
 */
function session(): Promise<ort.InferenceSession> {
  sessionPromise ??= ort.InferenceSession.create(
    encodeOnnxModel({
      name: 'similarity',
      opset: 13,
      nodes: [
        { op: 'MatMulInteger', inputs: ['library', 'queries', 'zero'], outputs: ['dots'] },
        { op: 'Cast', inputs: ['dots'], outputs: ['dots_f'], attributes: { to: 1 } },
        { op: 'Mul', inputs: ['dots_f', 'scales'], outputs: ['similarities'] },
        { op: 'TopK', inputs: ['similarities', 'k'], outputs: ['values', 'indices'], attributes: { axis: 0, largest: 1, sorted: 1 } },
      ],
      initializers: [{ name: 'zero', dims: [], data: Uint8Array.of(128), type: 'uint8' }],
      inputs: [
        { name: 'library', dims: ['n', 'd'], type: 'uint8' },
        { name: 'scales', dims: ['n', 1] },
        { name: 'queries', dims: ['d', 'm'], type: 'int8' },
        { name: 'k', dims: [1], type: 'int64' },
      ],
      outputs: [
        { name: 'values', dims: ['k', 'm'] },
        { name: 'indices', dims: ['k', 'm'], type: 'int64' },
      ],
    }),
    { graphOptimizationLevel: 'all' },
  );
  return sessionPromise;
}

/** A library's embeddings in one matrix, ready to be searched. */
export class VectorMatrix {
  private constructor(
    readonly dim: number,
    readonly rows: number,
    private readonly data: Uint8Array,
    private readonly scales: Float32Array,
  ) {}

  /** Builds the matrix from stored embeddings (`unitInt8Bytes`), all of one size. */
  static fromStored(stored: readonly Uint8Array[]): VectorMatrix {
    const dim = stored.length ? stored[0].length - 4 : 0;
    const data = new Uint8Array(stored.length * dim);
    const scales = new Float32Array(stored.length);
    stored.forEach((bytes, i) => {
      const q = VectorMatrix.queryOf(bytes);
      for (let j = 0; j < dim; j++) data[i * dim + j] = q.values[j] + 128;
      scales[i] = q.scale;
    });
    return new VectorMatrix(dim, stored.length, data, scales);
  }

  /**
   * A stored embedding as a query, in 7 bits: x86's u8 × s8 kernels add pairs
   * of products in 16 bits with saturation, so both sides stay within ±63
   * (191 × 63 × 2 < 32767) for exact dot products.
   */
  static queryOf(stored: Uint8Array): { values: Int8Array; scale: number } {
    const { values, scale } = fromUnitInt8Bytes(stored);
    const half = new Int8Array(values.length);
    for (let j = 0; j < values.length; j++) half[j] = Math.max(-63, Math.min(63, Math.round(values[j] / 2)));
    return { values: half, scale: scale * 2 };
  }

  /** The stored vector of a row, as a query. */
  query(row: number): { values: Int8Array; scale: number } {
    const values = new Int8Array(this.dim);
    for (let j = 0; j < this.dim; j++) values[j] = this.data[row * this.dim + j] - 128;
    return { values, scale: this.scales[row] };
  }

  /** For each query, its `k` nearest rows, most alike first (cosine similarity from int8 vectors, at most 1). */
  async nearestMany(queries: readonly { values: Int8Array; scale: number }[], k: number): Promise<Neighbour[][]> {
    const m = queries.length;
    const kk = Math.min(k, this.rows);
    if (m === 0 || kk === 0) return queries.map(() => []);
    const packed = new Int8Array(this.dim * m);
    queries.forEach((q, c) => {
      for (let j = 0; j < this.dim; j++) packed[j * m + c] = q.values[j];
    });
    const s = await session();
    const out = await s.run({
      library: new ort.Tensor('uint8', this.data, [this.rows, this.dim]),
      scales: new ort.Tensor('float32', this.scales, [this.rows, 1]),
      queries: new ort.Tensor('int8', packed, [this.dim, m]),
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(kk)), [1]),
    });
    const values = out.values.data as Float32Array;
    const indices = out.indices.data as BigInt64Array;
    return queries.map((q, c) => Array.from({ length: kk }, (_, r) => ({ row: Number(indices[r * m + c]), similarity: Math.min(1, values[r * m + c] * q.scale) })));
  }

  /** The `k` rows most like a query (one of the rows, which is left out, or a new vector). */
  async nearest(query: number | { values: Int8Array; scale: number }, k: number): Promise<Neighbour[]> {
    const own = typeof query === 'number' ? query : -1;
    const [found] = await this.nearestMany([own >= 0 ? this.query(own) : (query as { values: Int8Array; scale: number })], k + (own >= 0 ? 1 : 0));
    return found.filter((n) => n.row !== own).slice(0, k);
  }

  /**
   * Every pair of rows at least `threshold` alike among each row's `k`
   * nearest, each pair once, in blocks of queries so memory stays bounded.
   */
  async pairsAbove(threshold: number, k = 10, block = 128): Promise<{ a: number; b: number; similarity: number }[]> {
    const seen = new Map<string, { a: number; b: number; similarity: number }>();
    for (let start = 0; start < this.rows; start += block) {
      const end = Math.min(this.rows, start + block);
      const found = await this.nearestMany(Array.from({ length: end - start }, (_, c) => this.query(start + c)), k + 1);
      found.forEach((neighbours, c) => {
        const a = start + c;
        for (const n of neighbours) {
          if (n.row === a || n.similarity < threshold) continue;
          const [x, y] = a < n.row ? [a, n.row] : [n.row, a];
          seen.set(`${x}:${y}`, { a: x, b: y, similarity: n.similarity });
        }
      });
    }
    return [...seen.values()];
  }
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareFingerprints, fingerprintOf } from '../image/fingerprint.js';
import { unitInt8Bytes } from '../heads/vectors.js';
import { seededRandom } from '../testing/random-resnet.js';
import { findDuplicates, type DupeCandidate } from './dupes.js';
import { VectorMatrix } from './similarity.js';

const cosine = (a: Float32Array, b: Float32Array): number => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
};

function vectors(n: number, dim: number, seed: number): Float32Array[] {
  const rand = seededRandom(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, () => rand() * 2 - 1));
}

test('nearest look-alikes: the same neighbours as exact cosine similarity, within 0.003', async () => {
  const vs = vectors(500, 512, 3);
  // Plant close neighbours of row 7.
  for (const [row, noise] of [[100, 0.1], [200, 0.3], [300, 0.6]] as const) vs[row] = vs[7].map((x, j) => x + noise * Math.sin(j * 12.9898 + row));
  const matrix = VectorMatrix.fromStored(vs.map((v) => unitInt8Bytes(v)));
  const found = await matrix.nearest(7, 5);
  const exact = vs.map((v, i) => ({ row: i, similarity: cosine(vs[7], v) })).filter((x) => x.row !== 7).sort((a, b) => b.similarity - a.similarity).slice(0, 5);
  assert.deepEqual(found.slice(0, 3).map((f) => f.row), [100, 200, 300]);
  found.forEach((f, i) => assert.ok(Math.abs(f.similarity - exact[i].similarity) < 0.003, `${f.similarity} vs ${exact[i].similarity}`));
  // Values large enough to saturate 16-bit pair sums in u8 × s8 kernels still come out right.
  const spiky = vectors(50, 512, 4).map((v) => v.map((x, j) => (j % 2 ? x : x * 40)));
  const m2 = VectorMatrix.fromStored(spiky.map((v) => unitInt8Bytes(v)));
  const [n] = await m2.nearest(VectorMatrix.queryOf(unitInt8Bytes(spiky[9])), 1);
  assert.equal(n.row, 9);
  assert.ok(Math.abs(n.similarity - 1) < 0.005, String(n.similarity));
});

test('pairs above a threshold, each once', async () => {
  const vs = vectors(300, 64, 5);
  vs[10] = vs[20].map((x) => x * 1.01);
  vs[30] = vs[20].map((x, j) => x + (j % 7 ? 0 : 0.05));
  const pairs = await VectorMatrix.fromStored(vs.map((v) => unitInt8Bytes(v))).pairsAbove(0.95, 5, 64);
  assert.deepEqual(pairs.map((p) => `${p.a}-${p.b}`).sort(), ['10-20', '10-30', '20-30']);
});

function image(width: number, height: number, draw: (x: number, y: number) => [number, number, number]): { data: Uint8Array; width: number; height: number; channels: 3 } {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(draw(x, y), (y * width + x) * 3);
  return { data, width, height, channels: 3 };
}

const scene = (x: number, y: number): [number, number, number] => {
  const v = 128 + 60 * Math.sin(x / 23) * Math.cos(y / 17) + 40 * Math.sin((x + 2 * y) / 41);
  return [v, 255 - v, (x * 3 + y) % 256];
};

test('fingerprints: a resized copy and a 10% crop match; another picture, or the same one in other colours, does not', () => {
  const full = fingerprintOf(image(400, 300, scene));
  const half = fingerprintOf(image(200, 150, (x, y) => scene(x * 2, y * 2)));
  const crop = fingerprintOf(image(360, 270, (x, y) => scene(x + 20, y + 15)));
  const corner = fingerprintOf(image(360, 270, scene));
  const other = fingerprintOf(image(400, 300, (x, y) => scene(y * 1.3 + 50, x * 0.7)));
  const recoloured = fingerprintOf(image(400, 300, (x, y) => scene(x, y).map((c, i) => (i === 2 ? 255 - c : c)) as [number, number, number]));
  for (const [name, fp] of [['half', half], ['crop', crop], ['corner', corner]] as const) {
    const m = compareFingerprints(full, fp);
    assert.ok(m.similarity > 0.95 && m.colourDifference < 6, `${name}: ${JSON.stringify(m)}`);
  }
  assert.ok(compareFingerprints(full, other).similarity < 0.9);
  assert.ok(compareFingerprints(full, recoloured).colourDifference > 8);
});

test('duplicate groups: exact copies by content, near copies by embedding and fingerprint, largest photo first', async () => {
  const vs = vectors(6, 64, 9);
  const fp = fingerprintOf(image(400, 300, scene));
  const otherFp = fingerprintOf(image(400, 300, (x, y) => scene(y + 90, x)));
  const photo = (id: number, sha: string, v: Float32Array, f: Uint8Array, width = 400): DupeCandidate => ({ id, path: `/p/${id}.jpg`, sha256: sha, width, height: 300, embedding: unitInt8Bytes(v), fingerprint: f });
  const groups = await findDuplicates([
    photo(1, 'a', vs[0], fp, 200),
    photo(2, 'b', vs[0].map((x) => x + 0.001), fp, 400),
    photo(3, 'c', vs[1], otherFp),
    photo(4, 'c', vs[1], otherFp),
    photo(5, 'd', vs[2], fp),
    photo(6, 'e', vs[0].map((x) => x * 1.001), otherFp),
  ]);
  assert.deepEqual(groups.map((g) => [g.kind, g.photos.map((p) => p.id)]), [['near', [2, 1]], ['exact', [3, 4]]]);
});

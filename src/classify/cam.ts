/**
 * Class activation maps (Zhou et al., 2016, "Learning Deep Features for
 * Discriminative Localization"): a network that ends in global average
 * pooling and one linear layer scores class c as the average over positions
 * of Σ_k w[c,k]·F[k,y,x], so that sum at each position, the map, shows where
 * the evidence for c lies. Exact for ResNets, and computed from the feature
 * map the same inference run already produced. Pure maths; drawing is in
 * `heatmap.ts`.
 */

/** A map over the feature grid (row-major, `height × width`). */
export interface ActivationMap {
  width: number;
  height: number;
  values: Float32Array;
}

/**
 * The class activation map of class `cls` from one image's feature map
 * (`channels × height × width`) and the final layer's weights
 * (`classes × channels`, row c for class c).
 */
export function classActivationMap(featureMap: Float32Array, channels: number, height: number, width: number, weights: Float32Array, cls: number): ActivationMap {
  const positions = height * width;
  if (featureMap.length !== channels * positions) throw new RangeError(`feature map has ${featureMap.length} values, not ${channels}×${height}×${width}`);
  if (weights.length % channels !== 0 || cls < 0 || (cls + 1) * channels > weights.length) throw new RangeError(`no weights for class ${cls}`);
  const values = new Float32Array(positions);
  const row = cls * channels;
  for (let k = 0; k < channels; k++) {
    const w = weights[row + k];
    if (w === 0) continue;
    const base = k * positions;
    for (let p = 0; p < positions; p++) values[p] += w * featureMap[base + p];
  }
  return { width, height, values };
}

/**
 * The map resized to `size × size` by bilinear interpolation with
 * half-pixel centres (each cell of the grid covers `size / width` pixels of
 * the model's input crop), negative values set to 0.
 */
export function upsampleMap(map: ActivationMap, size: number): Float32Array {
  const out = new Float32Array(size * size);
  const sx = map.width / size;
  const sy = map.height / size;
  for (let y = 0; y < size; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), map.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, map.height - 1);
    const ty = fy - y0;
    for (let x = 0; x < size; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), map.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, map.width - 1);
      const tx = fx - x0;
      const v = map.values;
      const top = v[y0 * map.width + x0] * (1 - tx) + v[y0 * map.width + x1] * tx;
      const bottom = v[y1 * map.width + x0] * (1 - tx) + v[y1 * map.width + x1] * tx;
      const value = top * (1 - ty) + bottom * ty;
      out[y * size + x] = value > 0 ? value : 0;
    }
  }
  return out;
}

/** `values` scaled to 0..1 by their maximum (all zeros stay zeros). */
export function normalizeMap(values: Float32Array): Float32Array {
  let max = 0;
  for (const v of values) if (v > max) max = v;
  const out = new Float32Array(values.length);
  if (max > 0) for (let i = 0; i < values.length; i++) out[i] = Math.max(0, values[i]) / max;
  return out;
}

/** The share of the map's (non-negative) mass inside the box `[x0, x1) × [y0, y1)` of a `size × size` map. */
export function massInside(values: Float32Array, size: number, box: { x0: number; y0: number; x1: number; y1: number }): number {
  let inside = 0;
  let total = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = Math.max(0, values[y * size + x]);
      total += v;
      if (x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1) inside += v;
    }
  }
  return total > 0 ? inside / total : 0;
}

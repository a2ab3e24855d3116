/**
 * Test helper: a direct, loop-by-loop ResNet forward pass in double precision,
 * written from torchvision's definition. It checks the ONNX graph we build
 * (strides, padding, BatchNorm, shortcuts) without trusting ONNX Runtime or
 * the builder. Slow, so tests feed it small inputs.
 */
import type { StateDict } from '../model/pth.js';

interface Fmap { c: number; h: number; w: number; data: Float64Array }

function get(dict: StateDict, key: string): Float32Array {
  const t = dict.get(key);
  if (!t) throw new Error(`missing ${key}`);
  return t.data;
}

function conv(x: Fmap, weight: Float32Array, outC: number, k: number, stride: number, pad: number): Fmap {
  const h = Math.floor((x.h + 2 * pad - k) / stride) + 1;
  const w = Math.floor((x.w + 2 * pad - k) / stride) + 1;
  const out = new Float64Array(outC * h * w);
  for (let o = 0; o < outC; o++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let acc = 0;
        for (let c = 0; c < x.c; c++) {
          for (let ki = 0; ki < k; ki++) {
            const yi = i * stride - pad + ki;
            if (yi < 0 || yi >= x.h) continue;
            for (let kj = 0; kj < k; kj++) {
              const xj = j * stride - pad + kj;
              if (xj < 0 || xj >= x.w) continue;
              acc += x.data[(c * x.h + yi) * x.w + xj] * weight[((o * x.c + c) * k + ki) * k + kj];
            }
          }
        }
        out[(o * h + i) * w + j] = acc;
      }
    }
  }
  return { c: outC, h, w, data: out };
}

function batchNorm(x: Fmap, dict: StateDict, name: string, relu: boolean): Fmap {
  const g = get(dict, `${name}.weight`);
  const b = get(dict, `${name}.bias`);
  const m = get(dict, `${name}.running_mean`);
  const v = get(dict, `${name}.running_var`);
  const plane = x.h * x.w;
  const out = new Float64Array(x.data.length);
  for (let c = 0; c < x.c; c++) {
    const scale = g[c] / Math.sqrt(v[c] + 1e-5);
    for (let i = 0; i < plane; i++) {
      const y = (x.data[c * plane + i] - m[c]) * scale + b[c];
      out[c * plane + i] = relu && y < 0 ? 0 : y;
    }
  }
  return { ...x, data: out };
}

function convBn(x: Fmap, dict: StateDict, convName: string, bnName: string, stride: number, relu: boolean): Fmap {
  const shape = (dict.get(`${convName}.weight`) as { shape: number[] }).shape;
  const k = shape[2];
  return batchNorm(conv(x, get(dict, `${convName}.weight`), shape[0], k, stride, (k - 1) / 2), dict, bnName, relu);
}

function maxPool(x: Fmap): Fmap {
  const h = Math.floor((x.h + 2 - 3) / 2) + 1;
  const w = Math.floor((x.w + 2 - 3) / 2) + 1;
  const out = new Float64Array(x.c * h * w);
  for (let c = 0; c < x.c; c++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let best = -Infinity;
        for (let a = 0; a < 3; a++) {
          for (let b = 0; b < 3; b++) {
            const yi = i * 2 - 1 + a;
            const xj = j * 2 - 1 + b;
            if (yi >= 0 && yi < x.h && xj >= 0 && xj < x.w) best = Math.max(best, x.data[(c * x.h + yi) * x.w + xj]);
          }
        }
        out[(c * h + i) * w + j] = best;
      }
    }
  }
  return { c: x.c, h, w, data: out };
}

/** Logits of one CHW image of side `size` through the ResNet in `dict`. */
export function naiveResnetForward(dict: StateDict, image: Float32Array, size: number): Float64Array {
  let x: Fmap = { c: 3, h: size, w: size, data: Float64Array.from(image) };
  x = maxPool(convBn(x, dict, 'conv1', 'bn1', 2, true));
  const bottleneck = dict.has('layer1.0.conv3.weight');
  for (let s = 1; s <= 4; s++) {
    for (let i = 0; dict.has(`layer${s}.${i}.conv1.weight`); i++) {
      const p = `layer${s}.${i}`;
      const stride = s > 1 && i === 0 ? 2 : 1;
      let y = bottleneck ? convBn(x, dict, `${p}.conv1`, `${p}.bn1`, 1, true) : convBn(x, dict, `${p}.conv1`, `${p}.bn1`, stride, true);
      y = bottleneck ? convBn(y, dict, `${p}.conv2`, `${p}.bn2`, stride, true) : convBn(y, dict, `${p}.conv2`, `${p}.bn2`, 1, false);
      if (bottleneck) y = convBn(y, dict, `${p}.conv3`, `${p}.bn3`, 1, false);
      const shortcut = dict.has(`${p}.downsample.0.weight`) ? convBn(x, dict, `${p}.downsample.0`, `${p}.downsample.1`, stride, false) : x;
      const out = new Float64Array(y.data.length);
      for (let j = 0; j < out.length; j++) out[j] = Math.max(0, y.data[j] + shortcut.data[j]);
      x = { ...y, data: out };
    }
  }
  const fcW = get(dict, 'fc.weight');
  const fcB = get(dict, 'fc.bias');
  const classes = fcB.length;
  const plane = x.h * x.w;
  const pooled = new Float64Array(x.c);
  for (let c = 0; c < x.c; c++) {
    let sum = 0;
    for (let i = 0; i < plane; i++) sum += x.data[c * plane + i];
    pooled[c] = sum / plane;
  }
  const logits = new Float64Array(classes);
  for (let o = 0; o < classes; o++) {
    let acc = fcB[o];
    for (let c = 0; c < x.c; c++) acc += fcW[o * x.c + c] * pooled[c];
    logits[o] = acc;
  }
  return logits;
}

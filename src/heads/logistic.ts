/**
 * Multinomial logistic regression (softmax regression) with L2
 * regularisation, fitted by L-BFGS. Written here rather than taken from npm:
 * the well-kept numeric libraries for Node either run Python or TensorFlow
 * underneath, or fit by plain gradient descent with a learning rate to tune;
 * this objective is convex and smooth, so ~100 lines of quasi-Newton fit it
 * to its optimum in milliseconds, deterministically (no random
 * initialisation, no shuffling), which tests can check against known optima.
 *
 * Objective, over n examples x_i with classes y_i:
 *   (1/n) Σ_i -log softmax(W x_i + b)_{y_i} + (λ/2) ‖W‖²     (b not penalised)
 */

/** A fitted model: `weights[k * dim + j]`, `bias[k]`. */
export interface SoftmaxModel {
  classes: number;
  dim: number;
  weights: Float64Array;
  bias: Float64Array;
}

/** Fitting options. */
export interface FitOptions {
  /** L2 strength λ (per example, as in the objective above). Default 1e-3. */
  lambda?: number;
  /** Most L-BFGS iterations. Default 500. */
  maxIterations?: number;
  /** Stop when the gradient's largest component is below this. Default 1e-5 (the loss then agrees to ~6 digits). */
  tolerance?: number;
  /** Optional weight of each example (e.g. to balance classes); default 1. */
  sampleWeights?: ArrayLike<number>;
  /** Start from this model (a nearby optimum, e.g. the fit on all data for a cross-validation fold) instead of zero. */
  start?: SoftmaxModel;
}

/** What a fit reports besides the model. */
export interface FitReport {
  model: SoftmaxModel;
  loss: number;
  iterations: number;
  converged: boolean;
}

/** Softmax probabilities of `x` (length dim) under `model`, written into `out` (length classes). */
export function predictProbabilities(model: SoftmaxModel, x: ArrayLike<number>, out = new Float64Array(model.classes)): Float64Array {
  const { classes, dim, weights, bias } = model;
  let max = -Infinity;
  for (let k = 0; k < classes; k++) {
    let z = bias[k];
    const row = k * dim;
    for (let j = 0; j < dim; j++) z += weights[row + j] * x[j];
    out[k] = z;
    if (z > max) max = z;
  }
  let sum = 0;
  for (let k = 0; k < classes; k++) {
    out[k] = Math.exp(out[k] - max);
    sum += out[k];
  }
  for (let k = 0; k < classes; k++) out[k] /= sum;
  return out;
}

/** Loss and gradient of the objective at `params` = [W (classes×dim), b (classes)], with the examples as one row-major matrix. */
function lossAndGradient(params: Float64Array, x: Float64Array, y: ArrayLike<number>, classes: number, dim: number, lambda: number, weights: ArrayLike<number> | null, grad: Float64Array): number {
  grad.fill(0);
  const n = y.length;
  const z = new Float64Array(classes);
  const biasAt = classes * dim;
  let loss = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const w = weights ? weights[i] : 1;
    total += w;
    const row = i * dim;
    let max = -Infinity;
    for (let k = 0; k < classes; k++) {
      let s = params[biasAt + k];
      const wk = k * dim;
      for (let j = 0; j < dim; j++) s += params[wk + j] * x[row + j];
      z[k] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let k = 0; k < classes; k++) {
      z[k] = Math.exp(z[k] - max);
      sum += z[k];
    }
    const label = y[i];
    loss -= w * Math.log(Math.max(z[label] / sum, 1e-300));
    for (let k = 0; k < classes; k++) {
      const d = w * (z[k] / sum - (k === label ? 1 : 0));
      if (d === 0) continue;
      const wk = k * dim;
      for (let j = 0; j < dim; j++) grad[wk + j] += d * x[row + j];
      grad[biasAt + k] += d;
    }
  }
  const scale = 1 / total;
  loss *= scale;
  for (let i = 0; i < grad.length; i++) grad[i] *= scale;
  for (let i = 0; i < biasAt; i++) {
    loss += 0.5 * lambda * params[i] * params[i];
    grad[i] += lambda * params[i];
  }
  return loss;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Fits the model to examples `x` (each of length dim) with class indices
 * `y` in [0, classes). Deterministic: the same data gives the same model.
 */
export function fitSoftmax(x: readonly ArrayLike<number>[], y: ArrayLike<number>, classes: number, options: FitOptions = {}): FitReport {
  if (x.length === 0) throw new RangeError('no training examples');
  if (x.length !== y.length) throw new RangeError('x and y differ in length');
  if (!Number.isInteger(classes) || classes < 1) throw new RangeError('classes must be a positive integer');
  const dim = x[0].length;
  const flat = new Float64Array(x.length * dim);
  x.forEach((row, i) => {
    if (row.length !== dim) throw new RangeError('examples differ in length');
    for (let j = 0; j < dim; j++) flat[i * dim + j] = row[j];
  });
  const lambda = options.lambda ?? 1e-3;
  const maxIterations = options.maxIterations ?? 500;
  const tolerance = options.tolerance ?? 1e-5;
  const sampleWeights = options.sampleWeights ?? null;
  const size = classes * (dim + 1);
  const history = 10;
  let params = new Float64Array(size);
  if (options.start && options.start.classes === classes && options.start.dim === dim) {
    params.set(options.start.weights, 0);
    params.set(options.start.bias, classes * dim);
  }
  let grad = new Float64Array(size);
  let loss = lossAndGradient(params, flat, y, classes, dim, lambda, sampleWeights, grad);
  const s: Float64Array[] = [];
  const yk: Float64Array[] = [];
  const rho: number[] = [];
  let iterations = 0;
  let converged = false;
  const nextParams = new Float64Array(size);
  let nextGrad = new Float64Array(size);
  for (; iterations < maxIterations; iterations++) {
    let gmax = 0;
    for (let i = 0; i < size; i++) gmax = Math.max(gmax, Math.abs(grad[i]));
    if (gmax < tolerance) {
      converged = true;
      break;
    }
    // Two-loop recursion: direction = -H·grad.
    const q = Float64Array.from(grad);
    const alpha = new Array<number>(s.length);
    for (let m = s.length - 1; m >= 0; m--) {
      alpha[m] = rho[m] * dot(s[m], q);
      for (let i = 0; i < size; i++) q[i] -= alpha[m] * yk[m][i];
    }
    const gamma = s.length ? dot(s[s.length - 1], yk[yk.length - 1]) / dot(yk[yk.length - 1], yk[yk.length - 1]) : 1 / Math.max(1, gmax);
    for (let i = 0; i < size; i++) q[i] *= gamma;
    for (let m = 0; m < s.length; m++) {
      const beta = rho[m] * dot(yk[m], q);
      for (let i = 0; i < size; i++) q[i] += s[m][i] * (alpha[m] - beta);
    }
    const slope = -dot(grad, q);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      s.length = yk.length = rho.length = 0;
      continue;
    }
    // Backtracking line search (Armijo).
    let step = 1;
    let nextLoss = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let i = 0; i < size; i++) nextParams[i] = params[i] - step * q[i];
      nextLoss = lossAndGradient(nextParams, flat, y, classes, dim, lambda, sampleWeights, nextGrad);
      if (nextLoss <= loss + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(nextLoss < loss) && Math.abs(nextLoss - loss) < 1e-15) {
      converged = true;
      break;
    }
    const sNew = new Float64Array(size);
    const yNew = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      sNew[i] = nextParams[i] - params[i];
      yNew[i] = nextGrad[i] - grad[i];
    }
    const sy = dot(sNew, yNew);
    if (sy > 1e-12) {
      s.push(sNew);
      yk.push(yNew);
      rho.push(1 / sy);
      if (s.length > history) {
        s.shift();
        yk.shift();
        rho.shift();
      }
    }
    params = Float64Array.from(nextParams);
    [grad, nextGrad] = [nextGrad, grad];
    loss = nextLoss;
  }
  return { model: { classes, dim, weights: params.subarray(0, classes * dim), bias: params.subarray(classes * dim) }, loss, iterations, converged };
}

/** Scales each vector to unit length (the zero vector stays zero); returns new arrays. */
export function l2Normalize(x: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < x.length; i++) n += x[i] * x[i];
  const scale = n > 0 ? 1 / Math.sqrt(n) : 0;
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * scale;
  return out;
}

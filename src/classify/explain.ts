/**
 * "Why did it say that?": one image's class activation map, from the
 * `feature_map` output of the same inference run as its answer and the
 * final layer's weights (read once from the model's graph). Shared by the
 * CLI (`classify --explain`), `POST /v1/explain` and TorchServe's
 * `/explanations/{model}`.
 */
import { readFile } from 'node:fs/promises';
import { ResnetServeError, invalidArgument } from '../errors.js';
import { readFailure } from '../fs-atomic.js';
import type { LabelSet } from '../labels/labels.js';
import type { LoadedModel } from '../model/load-model.js';
import type { ExtraOutput } from '../model/model-outputs.js';
import type { RunOutputs } from '../model/model-session.js';
import type { Prediction } from '../types.js';
import { answerWithHead } from '../heads/answer.js';
import type { Head } from '../heads/head.js';
import { rankLogits } from './answer.js';
import { checkHeadFits, requireOutputs } from './outputs.js';
import { classActivationMap, type ActivationMap } from './cam.js';
import { closestNames } from '../similar-names.js';

/** The final layer's weights, `classes × channels`. */
export interface FinalLayer {
  weights: Float32Array;
  classes: number;
  channels: number;
}

/** One image's explanation: its answer, the class explained and that class's map over the feature grid. */
export interface Explanation {
  predictions: Prediction[];
  target: Prediction;
  map: ActivationMap;
  /** With a head: whether it finds the photo none of its classes, and how typical of its training photos the photo is. */
  unknown?: boolean;
  typicality?: number | null;
}

const finalLayers = new WeakMap<LoadedModel, Promise<FinalLayer>>();

async function readFinalLayer(model: LoadedModel): Promise<FinalLayer> {
  const unavailable = (why: string): ResnetServeError => new ResnetServeError('OUTPUT_UNAVAILABLE', `Explanations are not available for ${model.info.name}: ${why}`);
  if (!model.session.extraOutputs.includes('feature_map')) throw unavailable(model.missingOutputs ?? 'its graph has no global average pooling before the final layer, so there is no feature map to weight');
  if (!model.info.onnxPath) throw unavailable('its graph cannot be read');
  // The graph reader (protobufjs) loads on the first explanation, not with every server and CLI start.
  const [{ readGraph }, { classifierWeights, locateOutputs }] = await Promise.all([import('../model/onnx-graph.js'), import('../model/model-outputs.js')]);
  const path = model.info.onnxPath;
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    // Read on the first explanation: a cached graph deleted since the model was loaded is made again at the next start.
    throw new ResnetServeError('MODEL_INVALID', `Explanations need ${model.info.name}'s graph, and ${path} cannot be read now (${readFailure(err)}); restart to make it again`);
  });
  const graph = readGraph(bytes);
  const { classifier } = locateOutputs(graph);
  const found = classifier ? classifierWeights(graph, classifier) : null;
  if (!found || found.classes !== model.session.numClasses) throw unavailable("its final layer's weights are not constants of the graph");
  return { weights: found.weights, classes: found.classes, channels: found.dim };
}

/** The final layer of `model`, read from its graph on first use. Throws OUTPUT_UNAVAILABLE for models without one. */
export function finalLayer(model: LoadedModel): Promise<FinalLayer> {
  let pending = finalLayers.get(model);
  if (!pending) {
    pending = readFinalLayer(model);
    pending.catch(() => finalLayers.delete(model));
    finalLayers.set(model, pending);
  }
  return pending;
}

/**
 * The class to explain: an index, a label (English or Chinese, any case), or
 * (undefined) the top answer. `name` is how the caller calls the option.
 */
export function resolveClass(value: unknown, labels: LabelSet, numClasses: number, name = 'class'): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') throw invalidArgument(name, 'one class index or label', value);
  if (typeof value === 'number' || /^\d+$/.test(value)) {
    const index = Number(value);
    if (!Number.isInteger(index) || index < 0 || index >= numClasses) throw invalidArgument(name, `a class index from 0 to ${numClasses - 1} or a label`, value);
    return index;
  }
  const wanted = value.trim().toLowerCase();
  const index = labels.en.findIndex((l, i) => l.toLowerCase() === wanted || labels.zh?.[i] === value.trim());
  if (index < 0) {
    const near = closestNames(value.trim(), labels.en);
    throw invalidArgument(name, `a class index or one of the model's labels (${near.length ? `did you mean ${near.map((l) => `"${l}"`).join(' or ')}?` : 'e.g. "tabby"'})`, value);
  }
  return index;
}

/** The explanation of one image's outputs (logits and `feature_map` from one run) for class `cls` (default: the top one). */
export function explainOutputs(outputs: RunOutputs, layer: FinalLayer, labels: LabelSet, options: { cls?: number; topK: number }): Explanation {
  const fm = outputs.feature_map;
  if (!fm) throw new ResnetServeError('OUTPUT_UNAVAILABLE', 'The feature map was not computed');
  const [, channels, height, width] = fm.dims;
  if (channels !== layer.channels) throw new ResnetServeError('OUTPUT_UNAVAILABLE', `The feature map has ${channels} channels but the final layer reads ${layer.channels}`);
  const numClasses = outputs.logits.data.length;
  const all = rankLogits(outputs.logits.data, 0, numClasses, labels, { topK: numClasses, lang: 'both' });
  const cls = options.cls ?? all[0].index;
  const target = all.find((p) => p.index === cls) as Prediction;
  return { predictions: all.slice(0, options.topK), target, map: classActivationMap(fm.data, channels, height, width, layer.weights, cls) };
}

const headLayers = new WeakMap<Head, FinalLayer>();

/**
 * A head's classes as a final layer over the feature map: its weights
 * centred over its classes (softmax ignores what all classes share, so each
 * class's map shows the evidence for it against the others).
 */
export function headLayer(head: Head): FinalLayer {
  let layer = headLayers.get(head);
  if (!layer) {
    const { classes, dim, weights } = head.model;
    const centred = new Float32Array(classes * dim);
    for (let k = 0; k < dim; k++) {
      let mean = 0;
      for (let c = 0; c < classes; c++) mean += weights[c * dim + k];
      mean /= classes;
      for (let c = 0; c < classes; c++) centred[c * dim + k] = weights[c * dim + k] - mean;
    }
    layer = { weights: centred, classes, channels: dim };
    headLayers.set(head, layer);
  }
  return layer;
}

/**
 * A head's class to explain: a class name (any case; a class named "2"
 * before the class of index 2), an index, or (undefined) its top answer.
 */
export function resolveHeadClass(value: unknown, head: Head, name = 'class'): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') throw invalidArgument(name, `one of ${head.name}'s classes, by index or name`, value);
  const named = typeof value === 'string' ? head.classes.indexOf(value.trim()) : -1;
  if (named >= 0) return named;
  if (typeof value === 'number' || /^\d+$/.test(value)) {
    const index = Number(value);
    if (!Number.isInteger(index) || index < 0 || index >= head.classes.length) throw invalidArgument(name, `a class index from 0 to ${head.classes.length - 1} or one of ${head.name}'s classes (${head.classes.join(', ')})`, value);
    return index;
  }
  const wanted = value.trim().toLowerCase();
  const index = head.classes.findIndex((c) => c.toLowerCase() === wanted);
  if (index < 0) throw invalidArgument(name, `one of ${head.name}'s classes (${head.classes.join(', ')})`, value);
  return index;
}

/**
 * A head's explanation of one image's outputs (the logits, the mirror-mean
 * `embedding` and the `feature_map` of one run) for its class `cls`
 * (default: its top class, also when it answers "unknown"). The map is
 * scaled as the head sees the embedding (divided by its length), so its
 * mean over the grid is about the class's centred score (exactly so for a
 * photo that is its own mirror image).
 */
export function explainHeadOutputs(outputs: RunOutputs, head: Head, options: { cls?: number; topK: number }): Explanation {
  const fm = outputs.feature_map;
  const embedding = outputs.embedding;
  if (!fm || !embedding) throw new ResnetServeError('OUTPUT_UNAVAILABLE', 'The feature map or the embedding was not computed');
  const layer = headLayer(head);
  const [, channels, height, width] = fm.dims;
  if (channels !== layer.channels) throw new ResnetServeError('OUTPUT_UNAVAILABLE', `The feature map has ${channels} channels but head ${head.name} reads ${layer.channels}`);
  const verdict = answerWithHead(head, outputs, head.classes.length);
  const cls = options.cls ?? verdict.predictions[0].index;
  const target = verdict.predictions.find((p) => p.index === cls) as Prediction;
  const map = classActivationMap(fm.data, channels, height, width, layer.weights, cls);
  let norm = 0;
  for (const v of embedding.data) norm += v * v;
  if (norm > 0) for (let i = 0; i < map.values.length; i++) map.values[i] /= Math.sqrt(norm);
  return { predictions: verdict.predictions.slice(0, options.topK), target, map, unknown: verdict.unknown, typicality: verdict.typicality };
}

/** What one explanation asks of the run (outputs, the mirror image) and how it reads them. */
export interface ExplainPlan {
  extra: ExtraOutput[];
  mirror: boolean;
  /** The class asked for, by name (its English label, or the head's class), when one was. */
  target?: string;
  explain(outputs: RunOutputs): Explanation;
}

/**
 * An explanation made ready before any image is read: for the model's own
 * classes (its final layer read from the graph) or, with `head`, the head's
 * (trained on this model); `class` resolved against the one or the other.
 * The CLI, the library and the server run its `extra` outputs and hand them
 * to `explain`.
 */
export async function explainPlan(model: LoadedModel, options: { head?: Head; class?: unknown; topK: number; classOption?: string }): Promise<ExplainPlan> {
  const { head, topK, classOption = 'class' } = options;
  if (head) {
    checkHeadFits(head, model);
    requireOutputs(model, ['feature_map']);
    const cls = resolveHeadClass(options.class, head, classOption);
    return { extra: ['feature_map', 'embedding'], mirror: true, ...(cls === undefined ? {} : { target: head.classes[cls] }), explain: (outputs) => explainHeadOutputs(outputs, head, { cls, topK }) };
  }
  const cls = resolveClass(options.class, model.labels, model.session.numClasses, classOption);
  const layer = await finalLayer(model);
  return { extra: ['feature_map'], mirror: false, ...(cls === undefined ? {} : { target: model.labels.en[cls] ?? String(cls) }), explain: (outputs) => explainOutputs(outputs, layer, model.labels, { cls, topK }) };
}

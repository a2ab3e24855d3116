/**
 * A head: the user's own classes on top of a backbone model. It maps a
 * photo's embedding (the mean of the embeddings of the photo and its mirror
 * image, L2-normalised) to class probabilities with a multinomial logistic
 * regression, and says "unknown" when the photo is unlike the training photos
 * (`rejection.ts`). Heads are saved as JSON files that record the backbone's
 * SHA-256, the embedding size, the class names, the weights, the rejection
 * data and the training summary, with a SHA-256 of all of it, so a head is
 * never used with another model, nor after a change to its content.
 */
import { createHash } from 'node:crypto';
import { ResnetServeError } from '../errors.js';
import { l2Normalize, predictProbabilities, type SoftmaxModel } from './logistic.js';
import { judge, type RejectionModel } from './rejection.js';
import { floatBytes, fromFloatBytes, fromHalfBytes, halfBytes } from './vectors.js';

/** The file format's name and version. */
export const HEAD_FORMAT = 'resnet-serve-head';
export const HEAD_VERSION = 1;

/** The backbone a head was trained on. */
export interface Backbone {
  name: string;
  sha256: string;
  dim: number;
}

/** How training went (printed by `train`, returned by the API, kept in the file). */
export interface TrainingSummary {
  counts: Record<string, number>;
  /** `cv` (k-fold cross-validation), `holdout`, or `none` (too few photos to evaluate). */
  evaluation: 'cv' | 'holdout' | 'none';
  folds?: number;
  holdout?: number;
  /** Accuracy on held-out photos, 0..1 (null when not evaluated). */
  accuracy: number | null;
  /** confusion[true][predicted] counts on held-out photos. */
  confusion: number[][];
  /** Fraction of held-out training photos rejection would refuse. */
  rejectedHeldOut?: number;
  lambda: number;
  trainedAt: string;
  trainMs: number;
}

/** One answer of a head for one photo. */
export interface HeadAnswer {
  /** Class probabilities, in class order. */
  probabilities: Float64Array;
  /** The photo is unlike the training photos: "none of these". */
  unknown: boolean;
  /** How typical of the training photos it is, 0..1 (null when rejection is off). */
  typicality: number | null;
}

interface HeadFile {
  format: string;
  version: number;
  name: string;
  backbone: Backbone;
  embedding: string;
  classes: string[];
  weights: string;
  bias: number[];
  rejection: null | { k: number; dim: number; examples: string; profile: string; heldOut: { neighbours: number[]; profile: number[] }; thresholds: { neighbours: number; profile: number }; heldOutRejected: number };
  training: TrainingSummary;
  sha256?: string;
}

/** How heads make their embedding (recorded in the file). */
export const EMBEDDING_RECIPE = 'mean of the embeddings of the image and its mirror image, L2-normalised';

function digest(file: HeadFile): string {
  const { sha256: _omit, ...rest } = file;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

function invalid(label: string, why: string): ResnetServeError {
  return new ResnetServeError('INVALID_ARGUMENT', `${label} is not a usable head file: ${why}`);
}

export class Head {
  constructor(
    readonly name: string,
    readonly backbone: Backbone,
    readonly classes: readonly string[],
    readonly model: SoftmaxModel,
    readonly rejection: RejectionModel | null,
    readonly training: TrainingSummary,
  ) {}

  /** Answers for one photo: its head embedding (not yet normalised) and the backbone's class probabilities. */
  answer(embedding: ArrayLike<number>, probabilities: ArrayLike<number>): HeadAnswer {
    const x = l2Normalize(embedding);
    const p = predictProbabilities(this.model, x);
    if (!this.rejection) return { probabilities: p, unknown: false, typicality: null };
    const verdict = judge(this.rejection, x, probabilities);
    return { probabilities: p, unknown: verdict.rejected, typicality: verdict.typicality };
  }

  /** The same head without "unknown" answers. */
  withoutRejection(): Head {
    return new Head(this.name, this.backbone, this.classes, this.model, null, this.training);
  }

  /** The head as the JSON text of its file. */
  toJSON(): HeadFile {
    const r = this.rejection;
    const file: HeadFile = {
      format: HEAD_FORMAT,
      version: HEAD_VERSION,
      name: this.name,
      backbone: this.backbone,
      embedding: EMBEDDING_RECIPE,
      classes: [...this.classes],
      weights: floatBytes(this.model.weights).toString('base64'),
      bias: Array.from(this.model.bias),
      rejection: r && {
        k: r.k,
        dim: r.dim,
        // Half precision keeps the file small; cosine similarities move by ~1e-4.
        examples: halfBytes(r.examples).toString('base64'),
        profile: floatBytes(r.profile).toString('base64'),
        heldOut: r.heldOut,
        thresholds: r.thresholds,
        heldOutRejected: r.heldOutRejected,
      },
      training: this.training,
    };
    return { ...file, sha256: digest(file) };
  }

  /**
   * Reads a head file's text. Refuses garbled or tampered files, and (with
   * `backbone`) a head trained on another model, saying which.
   */
  static parse(text: string, label: string, backbone?: { name: string; sha256: string }): Head {
    let file: HeadFile;
    try {
      file = JSON.parse(text);
    } catch (err) {
      throw invalid(label, `it is not valid JSON (${(err as Error).message})`);
    }
    if (!file || typeof file !== 'object' || file.format !== HEAD_FORMAT) throw invalid(label, `it is not a ${HEAD_FORMAT} file`);
    if (file.version !== HEAD_VERSION) throw invalid(label, `it is version ${String(file.version)}; this resnet-serve reads version ${HEAD_VERSION}`);
    if (file.sha256 !== digest(file)) throw invalid(label, 'its content does not match its SHA-256 (the file was changed or damaged after training); train it again');
    const b = file.backbone;
    if (backbone && b.sha256 !== backbone.sha256) {
      throw new ResnetServeError('INVALID_ARGUMENT', `${label} was trained on ${b.name} (sha256 ${b.sha256.slice(0, 12)}…), not on ${backbone.name} (sha256 ${backbone.sha256.slice(0, 12)}…): its weights mean nothing on another model; train it again with --model ${b.name}`);
    }
    const classes = file.classes;
    const weights = fromFloatBytes(Buffer.from(file.weights, 'base64'));
    if (!Array.isArray(classes) || classes.length < 2 || !classes.every((c) => typeof c === 'string') || weights.length !== classes.length * b.dim || file.bias.length !== classes.length) {
      throw invalid(label, 'its classes and weights do not agree');
    }
    const model: SoftmaxModel = { classes: classes.length, dim: b.dim, weights: Float64Array.from(weights), bias: Float64Array.from(file.bias) };
    const r = file.rejection;
    const rejection: RejectionModel | null = r && { k: r.k, dim: r.dim, examples: fromHalfBytes(Buffer.from(r.examples, 'base64')), profile: fromFloatBytes(Buffer.from(r.profile, 'base64')), heldOut: r.heldOut, thresholds: r.thresholds, heldOutRejected: r.heldOutRejected };
    return new Head(file.name, b, classes, model, rejection, file.training);
  }
}

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
import { readFile } from 'node:fs/promises';
import { ResnetServeError, invalidArgument } from '../errors.js';
import { fileUrlPath, readFailure } from '../fs-atomic.js';
import { l2Normalize, predictProbabilities, type SoftmaxModel } from './logistic.js';
import { judge, type RejectionModel } from './rejection.js';
import { headDigest, HEAD_FORMAT, HEAD_VERSION, readHeadFile, type HeadFile } from './head-file.js';
import { floatBytes, halfBytes } from './vectors.js';
import type { TrainingNote } from './training-notes.js';

export { HEAD_FORMAT, HEAD_VERSION } from './head-file.js';

/** The backbone a head was trained on. */
export interface Backbone {
  name: string;
  sha256: string;
  dim: number;
  /** The precision its embeddings were computed in (absent in files written before it was recorded). */
  precision?: 'fp32' | 'int8';
}

/** How training went (printed by `train`, returned by the API, kept in the file). */
export interface TrainingSummary {
  /** The classes, in the order of `confusion`. */
  classes: string[];
  /** Photos per class (repeats of a photo in a class counted once). */
  counts: Record<string, number>;
  /** `cv` (k-fold cross-validation), `holdout`, or `none` (too few photos to evaluate). */
  evaluation: 'cv' | 'holdout' | 'none';
  folds?: number;
  holdout?: number;
  /** Accuracy on held-out photos, 0..1 (null when not evaluated). */
  accuracy: number | null;
  /** How many held-out photos the accuracy was measured on. */
  evaluated: number;
  /** confusion[true][predicted] counts on held-out photos. */
  confusion: number[][];
  /** Fraction of held-out training photos rejection would refuse. */
  rejectedHeldOut?: number;
  lambda: number;
  /** What the user should know: small classes, repeated photos, an accuracy measured on few photos. */
  warnings: string[];
  /** The same as codes with their facts, for readers in other languages (absent in files from before they existed). */
  notes?: TrainingNote[];
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

/** How heads make their embedding (recorded in the file). */
export const EMBEDDING_RECIPE = 'mean of the embeddings of the image and its mirror image, L2-normalised';

/**
 * A head: the user's classes learned on one model's embeddings (softmax
 * regression), with its "unknown" calibration when it has one, and the
 * summary of its training. Made by training (`trainHeadFromFolder`) or read
 * from its file ({@link Head.load}); answers through `classify(…, { head })`.
 */
export class Head {
  /** The parts of a head as training makes them; use {@link Head.load} or {@link Head.parse} for a file. */
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
    return { ...file, sha256: headDigest(file) };
  }

  /**
   * Reads a head file's text. Refuses garbled or tampered files, and (with
   * `backbone`) a head trained on another model, saying which.
   */
  static parse(text: string, label: string, backbone?: { name: string; sha256: string }): Head {
    const { file, weights, rejection: vectors } = readHeadFile(text, label);
    const b = file.backbone;
    const model: SoftmaxModel = { classes: file.classes.length, dim: b.dim, weights: Float64Array.from(weights), bias: Float64Array.from(file.bias) };
    const r = file.rejection;
    const rejection: RejectionModel | null = r && vectors && { k: r.k, dim: r.dim, examples: vectors.examples, profile: vectors.profile, heldOut: r.heldOut, thresholds: r.thresholds, heldOutRejected: r.heldOutRejected };
    const head = new Head(file.name, b, file.classes, model, rejection, file.training);
    if (backbone) head.checkBackbone(backbone, label);
    return head;
  }

  /**
   * Reads a head file (see {@link Head.parse}); `backbone`, when given, must
   * be the model it was trained on. A file that cannot be read is IO_ERROR,
   * its `reason` the system's (ENOENT…).
   */
  static async load(given: string | URL, backbone?: { name: string; sha256: string }): Promise<Head> {
    const expected = 'a head file path or a file: URL';
    const path: unknown = given instanceof URL ? fileUrlPath(given, 'path', expected) : given;
    if (typeof path !== 'string' || path === '') throw invalidArgument('path', expected, path);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const reason = readFailure(err as NodeJS.ErrnoException);
      throw Object.assign(new ResnetServeError('IO_ERROR', `Cannot read the head file ${path}: ${reason}`, { cause: err }), { reason });
    }
    return Head.parse(text, path, backbone);
  }

  /** Refuses to answer on another model than the one this head was trained on (`label` names the head in the message). */
  checkBackbone(backbone: { name: string; sha256: string }, label: string): void {
    const b = this.backbone;
    if (b.sha256 === backbone.sha256) return;
    throw new ResnetServeError(
      'INVALID_ARGUMENT',
      `${label} was trained on ${b.name} (sha256 ${b.sha256.slice(0, 12)}…), not on ${backbone.name} (sha256 ${backbone.sha256.slice(0, 12)}…): its weights mean nothing on another model. Use it with the model it was trained on, or train it again on this one.`,
    );
  }

  /**
   * A note when this head's embeddings were computed in another precision
   * than `precision` (int8 against fp32): it still answers, its scores a
   * little apart; null when they agree or the file does not say.
   */
  precisionNote(precision: 'fp32' | 'int8', label: string): string | null {
    const trained = this.backbone.precision;
    if (trained === undefined || trained === precision) return null;
    return `${label} was trained on ${trained} embeddings and the model runs in ${precision} now: its answers hold, its scores may differ by a few points (give --precision ${trained}, or train it again in ${precision}, for the scores training measured)`;
  }

  /** The same head under another name (`serve --head NAME=FILE` serves it as NAME). */
  named(name: string): Head {
    return new Head(name, this.backbone, this.classes, this.model, this.rejection, this.training);
  }
}

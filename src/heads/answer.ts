/** A head's answer for one image, as ranked predictions: the postprocess step of classification with a head. */
import { softmax, topK } from '../classify/postprocess.js';
import type { OutputTensor, RunOutputs } from '../model/model-session.js';
import type { Prediction } from '../types.js';
import type { Head } from './head.js';

/** Ranked class predictions, and whether the photo is none of the classes. */
export interface HeadVerdict {
  predictions: Prediction[];
  unknown: boolean;
  /** How typical of the training photos the photo is, 0..1 (null when the head has no rejection). */
  typicality: number | null;
}

/** The head's top `k` classes for one image's outputs (its mirror-mean embedding and the backbone's logits). */
export function answerWithHead(head: Head, outputs: RunOutputs, k: number): HeadVerdict {
  const embedding = (outputs.embedding as OutputTensor).data;
  const answer = head.answer(embedding, softmax(outputs.logits.data));
  const predictions = topK(answer.probabilities, k).map((r) => ({ index: r.index, label: head.classes[r.index], score: r.score }));
  return { predictions, unknown: answer.unknown, typicality: answer.typicality };
}

/**
 * One ranked list for a verdict: with a head that finds the photo none of its
 * classes, `{ index: -1, label: 'unknown', score: 1 − typicality }` comes
 * first, then the classes; otherwise the predictions as they are.
 */
export function unknownFirst(verdict: { predictions: Prediction[]; unknown?: boolean; typicality?: number | null }): Prediction[] {
  if (!verdict.unknown) return verdict.predictions;
  return [{ index: -1, label: 'unknown', score: 1 - (verdict.typicality ?? 0) }, ...verdict.predictions];
}

/** What every classification entry point shares: option checks and turning logits into labelled answers. */
import { invalidArgument, refuseUnknownOptions } from '../errors.js';
import { Head } from '../heads/head.js';
import { labelPredictions, type LabelSet } from '../labels/labels.js';
import type { ClassifyOptions, LabelLanguage, Prediction } from '../types.js';
import { softmax, topK } from './postprocess.js';

/** Classify options with defaults applied. */
export interface ResolvedClassifyOptions {
  topK: number;
  lang: LabelLanguage;
  head?: Head;
}

const LANGS: readonly LabelLanguage[] = ['en', 'zh', 'both'];
const CLASSIFY_OPTION_KEYS = Object.keys({ topK: true, lang: true, head: true } satisfies Record<keyof ClassifyOptions, true>);

/** Applies defaults (top 5, English) and validates, naming the bad option as the caller calls it; with a head, k is capped at its classes. */
export function resolveClassifyOptions(options: ClassifyOptions, numClasses: number, names = { topK: 'topK', lang: 'lang' }): ResolvedClassifyOptions {
  refuseUnknownOptions(options, CLASSIFY_OPTION_KEYS, 'classify');
  if (options.head !== undefined && !(options.head instanceof Head)) throw invalidArgument('head', 'a Head (from loadHead or trainHeadFromFolder)', options.head);
  // A head has its own, usually few, classes: asking for more of them than it has gives them all.
  const k = options.head ? Math.min(options.topK ?? 5, options.head.classes.length) : (options.topK ?? 5);
  if (!Number.isInteger(k) || k < 1 || k > numClasses) throw invalidArgument(names.topK, `an integer from 1 to ${numClasses}`, options.topK);
  const lang = options.lang ?? 'en';
  if (!LANGS.includes(lang)) throw invalidArgument(names.lang, `one of ${LANGS.join(', ')}`, options.lang);
  return options.head ? { topK: k, lang, head: options.head } : { topK: k, lang };
}

/** Softmax, top-k and labels for the logits row at `offset`. */
export function rankLogits(logits: Float32Array, offset: number, numClasses: number, labels: LabelSet, options: ResolvedClassifyOptions): Prediction[] {
  return labelPredictions(topK(softmax(logits, offset, numClasses), options.topK), labels, options.lang);
}

/**
 * The fuzz loop: mutants of seed images go through decode and classify; each
 * must end in a result or a typed error within 5 s. Hangs, untyped errors and
 * unhandled rejections are failures. Bounded by count and by time.
 */
import { performance } from 'node:perf_hooks';
import { ImageClassifier } from '../classify/classifier.js';
import { ResnetServeError } from '../errors.js';
import { Preprocessor } from '../image/preprocess.js';
import { seededRandom } from '../testing/random-resnet.js';
import { mutate } from './mutate.js';

/** What a run found. */
export interface FuzzTally {
  mutants: number;
  classified: number;
  errors: Record<string, number>;
  hangs: { how: string[]; seed: string }[];
  untyped: { how: string[]; message: string }[];
  unhandledRejections: number;
  seconds: number;
}

export interface FuzzOptions {
  count: number;
  seconds: number;
  seed?: number;
  hangMs?: number;
}

/** Fuzzes `classifier` with mutants of `seeds` (name → bytes), alternating exact and fast preprocessing. */
export async function runFuzz(classifier: ImageClassifier, seeds: [string, Buffer][], options: FuzzOptions): Promise<FuzzTally> {
  const rand = seededRandom(options.seed ?? 1);
  const hangMs = options.hangMs ?? 5000;
  const tally: FuzzTally = { mutants: 0, classified: 0, errors: {}, hangs: [], untyped: [], unhandledRejections: 0, seconds: 0 };
  const onUnhandled = (): void => {
    tally.unhandledRejections++;
  };
  process.on('unhandledRejection', onUnhandled);
  const preprocessors = { exact: new Preprocessor(classifier.model.preprocess, undefined, 'exact'), fast: new Preprocessor(classifier.model.preprocess, undefined, 'fast') };
  const tensor = new Float32Array(preprocessors.exact.imageLength);
  const start = performance.now();
  try {
    while (tally.mutants < options.count && performance.now() - start < options.seconds * 1000) {
      const [name, source] = seeds[tally.mutants % seeds.length];
      const { bytes, how } = mutate(source, rand);
      const pre = tally.mutants % 2 ? preprocessors.fast : preprocessors.exact;
      tally.mutants++;
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), hangMs)));
      const work = (async () => {
        await pre.imageToTensor(bytes, tensor, 0);
        const logits = (await classifier.model.session.run(tensor, 1)).logits.data;
        classifier.postprocess(logits, 0, { topK: 3, lang: 'en' });
        return 'ok' as const;
      })();
      try {
        const outcome = await Promise.race([work, hang]);
        if (outcome === 'hang') tally.hangs.push({ how, seed: name });
        else tally.classified++;
      } catch (err) {
        if (err instanceof ResnetServeError) tally.errors[err.code] = (tally.errors[err.code] ?? 0) + 1;
        else tally.untyped.push({ how, message: String((err as Error)?.message ?? err) });
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  tally.seconds = (performance.now() - start) / 1000;
  return tally;
}

/** One line per finding, then the tally. */
export function formatTally(t: FuzzTally): string {
  const errors = Object.entries(t.errors).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    `${t.mutants} mutants in ${t.seconds.toFixed(1)} s: ${t.classified} classified, typed errors: ${errors || 'none'}`,
    `hangs over the limit: ${t.hangs.length}; untyped errors: ${t.untyped.length}; unhandled rejections: ${t.unhandledRejections}`,
    ...t.hangs.map((h) => `  hang: ${h.seed} via ${h.how.join('+')}`),
    ...t.untyped.map((u) => `  untyped: ${u.message} via ${u.how.join('+')}`),
  ].join('\n');
}

/**
 * `resnet-serve train <folder> --out head.json`: teaches the model the
 * classes of a folder (one subfolder per class) and writes a head file.
 * Prints the photos per class, the cross-validated (or held-out) accuracy,
 * a confusion matrix, the classes most often mixed up, how often "unknown"
 * would be answered, and warnings (small classes, photos in two classes,
 * files that are not images).
 */
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ImageClassifier } from '../classify/classifier.js';
import { ResnetServeError } from '../errors.js';
import { ensureWritableDir, writeFailure, writeFileAtomic } from '../fs-atomic.js';
import { readImageFolder } from '../heads/image-folder.js';
import { UNKNOWN_MIN_PHOTOS, checkClasses, mixups, type TrainOptions } from '../heads/train.js';
import { embedFolder, headNameFor, trainEmbedded } from '../heads/train-folder.js';
import type { TrainingSummary } from '../heads/head.js';
import type { ModelOptions } from '../types.js';
import { stoppableWhileLoading, stoppedBeforeReady } from './stop-while-loading.js';
import { UsageError, fractionOption, intOption, type Parsed } from './args.js';
import { displayWidth } from './format.js';
import { plural } from '../plural.js';

function pad(text: string, width: number, right = false): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return right ? fill + text : text + fill;
}

/** The confusion matrix as a table, rows the true class. */
export function formatConfusion(classes: readonly string[], confusion: readonly number[][]): string {
  const width = Math.max(...classes.map(displayWidth), 4);
  const cell = Math.max(5, ...classes.map((c) => displayWidth(c) + 1));
  const header = `  ${pad('', width)} ${classes.map((c) => pad(c, cell, true)).join('')}`;
  const rows = classes.map((c, i) => `  ${pad(c, width)} ${confusion[i].map((n) => pad(String(n), cell, true)).join('')}`);
  return [header, ...rows].join('\n');
}

/** The printed report of a training run. */
export function formatTrainingReport(classes: readonly string[], summary: TrainingSummary): string {
  const lines: string[] = [];
  const width = Math.max(...classes.map(displayWidth));
  for (const c of classes) lines.push(`  ${pad(c, width)}  ${String(summary.counts[c]).padStart(5)} photo${summary.counts[c] === 1 ? '' : 's'}`);
  if (summary.accuracy === null) {
    lines.push('Accuracy: not evaluated (a class has a single photo: no class can be tested on photos it was not trained on)');
  } else {
    const how = summary.evaluation === 'cv' ? `cross-validated, ${summary.folds} folds` : `on ${Math.round((summary.holdout ?? 0) * 100)}% held out`;
    lines.push(`Accuracy (${how}): ${(summary.accuracy * 100).toFixed(1)}% of ${plural(summary.evaluated, 'held-out photo')}`);
    lines.push('Confusion (rows: the true class, columns: the answer):');
    lines.push(formatConfusion(classes, summary.confusion));
    const pairs = mixups(classes, summary.confusion);
    lines.push(pairs.length ? `Most often mixed up: ${pairs.map((p) => `${p.a} ↔ ${p.b} (${p.count})`).join(', ')}` : 'No class was mixed up with another.');
  }
  if (summary.notes?.some((n) => n.code === 'UNKNOWN_OFF')) {
    lines.push(`Unknown: off (it needs ${UNKNOWN_MIN_PHOTOS} or more photos in every class; see the warning below)`);
  } else if (summary.rejectedHeldOut !== undefined) {
    const few = summary.notes?.some((n) => n.code === 'FEW_FOR_UNKNOWN');
    const expect = few ? 'with this few photos, that says little: new photos of these classes will often be answered "unknown"' : 'expect up to about twice that on new photos of these classes';
    lines.push(`Unknown: ${(summary.rejectedHeldOut * 100).toFixed(1)}% of held-out training photos would be answered "unknown" (${expect})`);
  }
  return lines.join('\n');
}

export async function trainCommand(paths: string[], values: Parsed, model: ModelOptions): Promise<number> {
  if (paths.length !== 1) throw new UsageError('train needs one folder, with one subfolder of photos per class');
  if (!values.out) throw new UsageError('train needs --out FILE for the head it writes');
  if (values.holdout !== undefined && values.cv !== undefined) throw new UsageError('give --holdout or --cv, not both');
  const options: TrainOptions = {};
  // At most half: the held-out part is one of round(1/h) equal parts, and the head trains on the rest.
  const holdout = fractionOption(values.holdout, '--holdout', undefined, { min: 0, max: 0.5, above: true, what: 'a fraction' });
  if (holdout !== undefined) options.holdout = holdout;
  if (values.cv !== undefined) {
    const folds = intOption(values.cv, '--cv', 5) as number;
    if (folds < 2) throw new UsageError('--cv must be at least 2');
    options.folds = folds;
  }
  if (values.reject !== undefined && values.reject !== 'on' && values.reject !== 'off') throw new UsageError(`--reject must be on or off, got ${JSON.stringify(values.reject)}`);
  options.reject = values.reject !== 'off';
  const rate = fractionOption(values['reject-rate'], '--reject-rate', undefined, { min: 0, max: 0.5, above: true, below: true, what: 'a fraction' });
  if (rate !== undefined && !options.reject) throw new UsageError('--reject-rate goes with rejection on (it sets how many known photos may be answered "unknown"): drop --reject off or --reject-rate');
  if (rate !== undefined) options.rejectRate = rate;
  if (values.name !== undefined && values.name.trim() === '') throw new UsageError('--name cannot be empty');
  const out = resolve(values.out);
  const outInfo = await stat(out).catch(() => null);
  if (outInfo?.isDirectory()) throw new UsageError(`--out ${values.out} is a folder; give the head file's name, e.g. --out ${join(values.out, 'head.json')}`);
  // A mistyped folder is said, not made (as cp and tar do), so no stray folders are left behind.
  const parentMissing = !outInfo && (await stat(dirname(out)).then(() => false, (err: NodeJS.ErrnoException) => err.code === 'ENOENT'));
  if (parentMissing) throw new UsageError(`--out ${values.out}: there is no folder ${dirname(values.out)} to write it in`);
  const root = resolve(paths[0]);
  const folder = await readImageFolder(root);
  checkClasses(folder.classes);
  await ensureWritableDir(dirname(out)).catch((err: NodeJS.ErrnoException) => {
    throw new ResnetServeError('IO_ERROR', `Cannot write ${values.out}: ${writeFailure(err)}`);
  });
  const name = values.name?.trim() ?? headNameFor(root);
  const classifier = await stoppableWhileLoading(() => ImageClassifier.create(model), stoppedBeforeReady);
  try {
    const { info } = classifier;
    process.stderr.write(`Training head "${name}" on ${info.name} (${info.precision}, sha256 ${info.sha256.slice(0, 12)}) from ${root}\n`);
    const tty = process.stderr.isTTY;
    const started = performance.now();
    const embedded = await embedFolder(classifier, folder, {
      cacheDir: model.cacheDir,
      onProgress: tty ? (done, total) => process.stderr.write(`\r  embedding ${done}/${total}`) : undefined,
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const { collected } = embedded;
    const rate = collected.embedded / Math.max(1e-3, collected.embedMs / 1000);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const fromCache = collected.cached ? `${collected.cached} from the cache` : 'none cached';
    const repeated = collected.repeated ? `, ${plural(collected.repeated, 'photo')} repeated (the same content as another)` : '';
    process.stderr.write(collected.embedded
      ? `Embedded ${plural(collected.embedded, 'photo')} at ${rate.toFixed(1)} images/s, ${fromCache}${repeated} (${seconds} s)\n`
      : `All ${collected.cached} embeddings came from the cache${repeated} (${seconds} s)\n`);
    const warn = (warnings: string[]): void => {
      if (warnings.length) process.stderr.write(`Warnings:\n${warnings.map((w) => `  - ${w}`).join('\n')}\n`);
    };
    let trained;
    try {
      trained = trainEmbedded(name, embedded, classifier, options);
    } catch (err) {
      warn(embedded.fileWarnings); // why a class has no photos: its files could not be read
      throw err;
    }
    const { head, summary } = trained;
    process.stdout.write(`${formatTrainingReport(folder.classes, summary)}\n`);
    warn(trained.warnings);
    const text = JSON.stringify(head.toJSON());
    await writeFileAtomic(out, text).catch((err: NodeJS.ErrnoException) => {
      throw new ResnetServeError('IO_ERROR', `Cannot write ${values.out}: ${writeFailure(err)}`);
    });
    process.stderr.write(`Wrote ${values.out} (${(text.length / 1024).toFixed(0)} KB; training took ${summary.trainMs} ms)\n`);
    return 0;
  } finally {
    await classifier.close();
  }
}

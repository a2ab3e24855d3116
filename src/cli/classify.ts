/**
 * `resnet-serve classify` (files and folders through the model, or through a
 * head with `--head`) and `resnet-serve embed` (their embeddings), as a table
 * or JSON lines, a batch at a time.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, sep } from 'node:path';
import { ImageClassifier } from '../classify/classifier.js';
import { explainPlan } from '../classify/explain.js';
import { renderOverlays } from '../image/heatmap.js';
import { ResnetServeError } from '../errors.js';
import { ensureWritableDir, writeFailure } from '../fs-atomic.js';
import { Head } from '../heads/head.js';
import { displayPath, fsPath } from '../library/paths.js';
import { readPhotoFile } from '../image/read-photo.js';
import type { ClassifyOutcome, EmbedOutcome, ModelOptions } from '../types.js';
import { checkDefaultBackbone, intOption, langOption, UsageError, type Parsed } from './args.js';
import { expandPaths, type ListedPath } from './files.js';
import { readPipedPhoto, STDIN_NAME } from './stdin-photo.js';
import { failedLine, formatEmbedding, formatJsonLine, formatOutcome } from './format.js';
import { ProgressLine } from './progress.js';
import { stoppableWhileLoading, stoppedBeforeReady } from './stop-while-loading.js';

const BATCH = 8;

/** A `--head` file, read and checked before the model loads. */
async function readHead(path: string): Promise<Head> {
  return Head.load(path).catch((err: ResnetServeError & { reason?: string }) => {
    throw err.reason === undefined ? err : new UsageError(`--head ${path} cannot be read: ${err.reason}`);
  });
}

/** The image files under `paths`; null, after saying so, when there are none. */
async function imageFiles(command: string, paths: string[], outputFolders: string[] = []): Promise<ListedPath[] | null> {
  const empty: string[] = [];
  const files = await expandPaths(paths, (folder) => empty.push(folder), outputFolders, command);
  for (const folder of empty) process.stderr.write(`${displayPath(folder)}: no photos in this folder\n`);
  if (!files.length) {
    process.stderr.write('No image files found.\n');
    return null;
  }
  return files;
}

/** What to classify for each listed path: the path itself, or for `-` the photo piped in (read once, up front). */
async function inputsFor(files: ListedPath[]): Promise<(path: string) => string | Buffer> {
  if (!files.some((f) => f.path === STDIN_NAME)) return (path) => path;
  const piped = await readPipedPhoto();
  return (path) => (path === STDIN_NAME ? piped : path);
}

/** A file's result as printed: its text, and whether it goes to stderr (a failure, in a table). */
type Printed = { text: string; toStderr: boolean };

/**
 * Runs `work` over the files a batch at a time, printing each file's result in
 * order, and the closing line when some failed; returns the failures. With the
 * results going to a file or a pipe and stderr a terminal, a progress line
 * shows how far it is.
 */
async function eachBatch<T extends { ok: boolean }>(files: ListedPath[], work: (paths: string[]) => Promise<T[]>, render: (file: string, outcome: T | { ok: false; error: ResnetServeError }) => Printed): Promise<number> {
  const progress = process.stderr.isTTY && !process.stdout.isTTY && files.length > BATCH ? new ProgressLine(process.stderr) : null;
  const started = performance.now();
  let failed = 0;
  let done = 0;
  const print = (file: string, outcome: T | { ok: false; error: ResnetServeError }): void => {
    const { text, toStderr } = render(file, outcome);
    if (!toStderr) process.stdout.write(text);
    else if (progress) progress.log(text.replace(/\n$/, ''));
    else process.stderr.write(text);
  };
  for (let i = 0; i < files.length; i += BATCH) {
    const chunk = files.slice(i, i + BATCH);
    const readable = chunk.filter((f) => !('error' in f));
    const outcomes = await work(readable.map((f) => f.path));
    let next = 0;
    for (const f of chunk) {
      const outcome = 'error' in f ? { ok: false as const, error: new ResnetServeError(f.code ?? 'IO_ERROR', f.error) } : outcomes[next++];
      if (!outcome.ok) failed++;
      print(displayPath(f.path), outcome);
    }
    done += chunk.length;
    progress?.update({ done, total: files.length, toClassify: files.length, classified: done, classifyMs: performance.now() - started, failed });
  }
  progress?.done();
  if (failed) process.stderr.write(failedLine(files, failed));
  return failed;
}

/** Bytes left for an overlay's name before its `~NN.photo.png` ending, so every name fits a file system's 255. */
const EXPLAIN_NAME_BYTES = 255 - '~99.photo.png'.length;

/** `.for-<class>`, the ending of a map drawn for a class asked for (`--class`), so maps for other classes sit beside it. */
export function classSuffix(target: string | undefined): string {
  if (target === undefined) return '';
  const safe = [...target.replace(/[/\\\0:*?"<>|]+/g, '_').replace(/\s+/g, '-')].slice(0, 40).join('');
  return `.for-${safe}`;
}

/**
 * The overlay's file name for `path`: its path relative to here, flattened
 * (`photos/cat.jpg` → `photos_cat.jpg`), then `suffix`; a name too long for
 * the file system keeps its start and end, with a hash of the whole between
 * them.
 */
function explainName(path: string, suffix = ''): string {
  const rel = relative(process.cwd(), displayPath(path));
  const name = (rel.startsWith('..') || isAbsolute(rel) ? basename(displayPath(path)) : rel).split(sep).join('_') + suffix;
  if (Buffer.byteLength(name) <= EXPLAIN_NAME_BYTES) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  // The end keeps the extension; whole characters only, so a multi-byte name is never cut mid-character.
  const chars = [...name];
  const tail = chars.slice(-24).join('');
  let head = '';
  for (const c of chars) {
    if (Buffer.byteLength(head + c) + Buffer.byteLength(tail) + hash.length + 2 > EXPLAIN_NAME_BYTES) break;
    head += c;
  }
  return `${head}~${hash}~${tail}`;
}

export async function classifyCommand(paths: string[], values: Parsed, model: ModelOptions): Promise<number> {
  if (paths.length === 0) throw new UsageError('classify needs at least one file or folder');
  const lang = langOption(values.lang, 'en');
  const topK = intOption(values['top-k'], '--top-k', 3) as number;
  if (topK < 1) throw new UsageError('--top-k must be at least 1');
  if ((values.head?.length ?? 0) > 1) throw new UsageError(`--head names ${values.head?.length} heads; classify answers with one`);
  // serve's NAME=FILE form (an exported RESNET_SERVE_HEAD, say) names the file too.
  const given = values.head?.[0];
  const headPath = given !== undefined && !existsSync(given) && /^[^=/\\]+=./.test(given) ? given.slice(given.indexOf('=') + 1) : given;
  if (values.reject !== undefined && values.reject !== 'on' && values.reject !== 'off') throw new UsageError(`--reject must be on or off, got ${JSON.stringify(values.reject)}`);
  if (values.reject !== undefined && headPath === undefined) throw new UsageError('--reject goes with --head (the ImageNet classes have no "unknown")');
  const head = headPath === undefined ? undefined : await readHead(headPath);
  if (head && model.model === undefined) checkDefaultBackbone(head, headPath as string);
  const explainDir = values.explain;
  if (values.class !== undefined && explainDir === undefined) throw new UsageError('--class goes with --explain (it chooses the class whose heatmap is drawn)');
  if (explainDir !== undefined) await prepareExplainDir(explainDir);
  const files = await imageFiles('classify', paths, explainDir === undefined ? [] : [explainDir]);
  if (!files) return 1;
  const input = await inputsFor(files);
  const classifier = await stoppableWhileLoading(() => ImageClassifier.create(model), stoppedBeforeReady);
  let failed: number;
  try {
    head?.checkBackbone(classifier.info, headPath as string);
    const precisionNote = head?.precisionNote(classifier.info.precision, headPath as string);
    if (precisionNote) process.stderr.write(`${precisionNote}\n`);
    const effective = values.reject === 'off' ? head?.withoutRejection() : head;
    // Asked for, but the head has none: said, not silently ignored.
    if (values.reject === 'on' && head && !head.rejection) process.stderr.write(`${headPath}: this head has no "unknown" (it was trained with --reject off, or with too few photos in a class), so --reject on changes nothing; train it again to have one\n`);
    const classes = effective ? effective.classes.length : classifier.info.numClasses;
    const k = Math.min(topK, classes);
    if (!effective && topK > classes) throw new UsageError(`--top-k must be at most ${classes}`);
    // With a head, its maps weight the feature map by the head's classes.
    const plan = explainDir === undefined ? undefined : await explainPlan(classifier.model, { head: effective, topK: k, class: values.class, classOption: '--class' });
    const written = new Map<string, { file: string; target: string }>();
    // Two paths can flatten to one name (a/x.jpg and a_x.jpg): the second gets a number, never the first's file.
    const taken = new Set<string>();
    const uniqueName = (name: string): string => {
      let unique = name;
      for (let n = 2; taken.has(unique); n++) unique = `${name}~${n}`;
      taken.add(unique);
      return unique;
    };
    const work = async (batch: string[]): Promise<ClassifyOutcome[]> => {
      if (!plan || explainDir === undefined) return classifier.classifyBatch(batch.map(input), { topK: k, lang, head: effective });
      const suffix = classSuffix(plan.target);
      const names = batch.map((path) => uniqueName(path === STDIN_NAME ? `stdin${suffix}` : explainName(path, suffix)));
      // Each file is read once: the same bytes are classified and drawn on.
      const bytes = await Promise.all(batch.map(input).map((given) => (typeof given === 'string' ? readPhotoFile(fsPath(given)).catch(() => given) : given)));
      const analyzed = await classifier.analyzeBatch(bytes, plan.extra, { mirror: plan.mirror });
      return Promise.all(
        analyzed.map(async (a, i): Promise<ClassifyOutcome> => {
          if (!a.ok) return a;
          const explanation = plan.explain(a.outputs);
          const { crop, photo } = await renderOverlays(bytes[i] as Buffer, explanation.map, classifier.model.preprocess);
          const out = join(explainDir, names[i]);
          try {
            await writeFile(`${out}.png`, crop);
            await writeFile(`${out}.photo.png`, photo);
          } catch (err) {
            // One overlay that cannot be written fails its own photo, not the run.
            return { ok: false, error: new ResnetServeError('IO_ERROR', `Cannot write its heatmap ${out}.png (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`) };
          }
          const { label, label_zh } = explanation.target;
          written.set(displayPath(batch[i]), { file: `${out}.png`, target: lang === 'zh' && label_zh ? label_zh : lang === 'both' && label_zh && label_zh !== label ? `${label} / ${label_zh}` : label });
          const common = { timings: a.timings, width: a.width, height: a.height };
          if (effective) return { ok: true, predictions: explanation.predictions, unknown: explanation.unknown, typicality: explanation.typicality, ...common };
          return { ok: true, predictions: classifier.postprocess(a.outputs.logits.data, 0, { topK: k, lang }), ...common };
        }),
      );
    };
    failed = await eachBatch<ClassifyOutcome>(files, work, (file, outcome) => {
      const heatmap = written.get(file);
      // Said for which class when it is not the top answer's.
      const where = heatmap && (values.class === undefined ? `   where it looked: ${heatmap.file}\n` : `   where it looked for ${heatmap.target}: ${heatmap.file}\n`);
      const text = values.json ? `${formatJsonLine(file, outcome, heatmap?.file, values.class === undefined ? undefined : heatmap?.target)}\n` : `${formatOutcome(file, outcome, lang)}${where || ''}`;
      return { text, toStderr: !outcome.ok && !values.json };
    });
  } finally {
    await classifier.close();
  }
  return failed ? 1 : 0;
}

/** Creates the `--explain` folder (and its parents) or says why it cannot (`IO_ERROR`: the disk's answer, not a usage mistake), before any photo is read. */
async function prepareExplainDir(dir: string): Promise<void> {
  await ensureWritableDir(dir).catch((err: NodeJS.ErrnoException) => {
    throw new ResnetServeError('IO_ERROR', `--explain ${dir}: heatmaps cannot be written there: ${writeFailure(err)}`);
  });
}

export async function embedCommand(paths: string[], values: Parsed, model: ModelOptions): Promise<number> {
  if (paths.length === 0) throw new UsageError('embed needs at least one file or folder');
  const files = await imageFiles('embed', paths);
  if (!files) return 1;
  const input = await inputsFor(files);
  const classifier = await stoppableWhileLoading(() => ImageClassifier.create(model), stoppedBeforeReady);
  let failed: number;
  try {
    failed = await eachBatch<EmbedOutcome>(
      files,
      (batch) => classifier.embedBatch(batch.map(input)),
      (file, outcome) => ({ text: formatEmbedding(file, outcome, Boolean(values.json)), toStderr: !outcome.ok && !values.json }),
    );
  } finally {
    await classifier.close();
  }
  return failed ? 1 : 0;
}

/**
 * A head trained from a folder of photos, one subfolder per class
 * (torchvision's ImageFolder layout): the photos are read, embedded with the
 * classifier (each embedding cached by the photo's content in the cache
 * folder, so retraining after adding photos embeds only those) and the head
 * trained. `resnet-serve train` and the library API both come here.
 */
import { basename, dirname, extname, relative, resolve } from 'node:path';
import type { ImageClassifier } from '../classify/classifier.js';
import { invalidArgument } from '../errors.js';
import { IMAGE_EXTENSIONS } from '../image/formats.js';
import { displayPath } from '../library/paths.js';
import { defaultCacheDir } from '../model/weights.js';
import { EmbeddingCache } from './embedding-cache.js';
import { collectExamples, recipeOf, type CollectedExamples } from './examples.js';
import type { Head, TrainingSummary } from './head.js';
import { readImageFolder, type ImageFolder } from './image-folder.js';
import { checkClasses, checkTrainOptions, trainHead, type TrainOptions } from './train.js';

/** The photos of a folder, embedded. */
export interface EmbeddedFolder {
  folder: ImageFolder;
  collected: CollectedExamples;
  /** Files left out, each said in one line (not images, unreadable, outside a class folder). */
  fileWarnings: string[];
}

/** A head trained from a folder. */
export interface FolderTraining {
  head: Head;
  summary: TrainingSummary;
  /** Everything worth knowing: the training's warnings, then the files left out. */
  warnings: string[];
}

/** The name a head takes from its folder: hymenoptera/train is the "hymenoptera" head, not the "train" head. */
export function headNameFor(root: string): string {
  const folder = resolve(root);
  return /^(train|training)$/i.test(basename(folder)) ? basename(dirname(folder)) : basename(folder);
}

/** Reads and embeds the photos of `folder` (cached by content in `cacheDir`); `onProgress(done, total)` follows. */
export async function embedFolder(classifier: ImageClassifier, folder: ImageFolder, options: { cacheDir?: string; onProgress?: (done: number, total: number) => void } = {}): Promise<EmbeddedFolder> {
  const cache = new EmbeddingCache(options.cacheDir ?? defaultCacheDir());
  try {
    // Named by their place in the training folder (ants/0013035.jpg) in messages.
    const photos = folder.photos.map((p) => ({ ...p, name: displayPath(relative(folder.root, p.shown)) }));
    const { info } = classifier;
    const collected = await collectExamples(photos, (bytes) => classifier.analyzeBatch(bytes, ['embedding'], { mirror: true }), cache, { model: info.sha256, recipe: recipeOf(classifier.preprocessor.mode, info) }, { onProgress: options.onProgress });
    const fileWarnings = [
      ...folder.skipped.map((s) => `skipped ${displayPath(relative(folder.root, s.path))}: ${s.reason}`),
      ...collected.failed.map((f) => `skipped ${f.name}: ${f.reason}`),
      // A photo there was meant for a class; notes and other files are merely not part of training.
      ...folder.outsideClasses.map((f) => `ignored ${displayPath(relative(folder.root, f))}: ${IMAGE_EXTENSIONS.has(extname(f).toLowerCase()) ? 'photos belong in a class folder' : 'not in a class folder'}`),
      ...folder.nested.map((c) => `class "${c.name}" keeps its photos only in subfolders (${c.subfolders.join(', ')}): if those are the classes, train on ${displayPath(c.path)} instead`),
    ];
    return { folder, collected, fileWarnings };
  } finally {
    cache.close();
  }
}

/** Trains `name`'s head from photos already embedded. */
export function trainEmbedded(name: string, embedded: EmbeddedFolder, classifier: ImageClassifier, options: TrainOptions = {}): FolderTraining {
  const { info } = classifier;
  const { examples } = embedded.collected;
  // With no photo read at all, the dimension is unknown and trainHead names the empty classes.
  const { head, summary } = trainHead(name, embedded.folder.classes, examples, { name: info.name, sha256: info.sha256, dim: examples[0]?.embedding.length ?? 0, precision: info.precision }, options);
  return { head, summary, warnings: [...summary.warnings, ...embedded.fileWarnings] };
}

/**
 * Trains a head from `root`, a folder with one subfolder of photos per class,
 * on `classifier`'s model. Save it with `JSON.stringify(head.toJSON())`; use
 * it with `classifier.classify(image, { head })`.
 */
export async function trainHeadFromFolder(classifier: ImageClassifier, root: string, options: TrainOptions & { name?: string; cacheDir?: string; onProgress?: (done: number, total: number) => void } = {}): Promise<FolderTraining> {
  if (typeof root !== 'string' || root === '') throw invalidArgument('root', 'a folder path', root);
  checkTrainOptions(options);
  const folder = await readImageFolder(resolve(root));
  checkClasses(folder.classes);
  const embedded = await embedFolder(classifier, folder, options);
  return trainEmbedded(options.name ?? headNameFor(root), embedded, classifier, options);
}

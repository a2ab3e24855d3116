/**
 * Turning photos into training examples for a head: each photo is hashed,
 * looked up in the embedding cache, and only the new ones go through the
 * model (image and mirror image in one batch). Shared by `resnet-serve train`
 * (photos from a folder) and the server's head API (uploaded photos).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { softmax } from '../classify/postprocess.js';
import { ResnetServeError } from '../errors.js';
import { fsPath } from '../library/paths.js';
import type { OutputTensor } from '../model/model-session.js';
import type { AnalyzeOutcome, ModelInfo } from '../types.js';
import type { EmbeddingCache } from './embedding-cache.js';
import type { TrainingExample } from './train.js';

/** Runs images through the model for head embeddings: `analyzeBatch(…, ['embedding'], { mirror: true })` of either engine. */
export type HeadEngine = (images: Buffer[]) => Promise<AnalyzeOutcome[]>;

/** A photo to learn from: a file or bytes, and its class. */
export interface LabelledPhoto {
  label: number;
  path?: string;
  bytes?: Buffer;
  /** How the photo is named in messages. */
  name: string;
}

/** The examples, the photos that could not be used, and where the work went. */
export interface CollectedExamples {
  examples: (TrainingExample & { photo: string; name: string })[];
  /** `reason` as printed (with the code, when there is one); `message` without it. */
  failed: { name: string; reason: string; message: string; code?: ResnetServeError['code'] }[];
  /** Photos with the same content in more than one class. */
  duplicates: { photo: string; names: string[]; classes: number[] }[];
  embedded: number;
  cached: number;
  /** Photos with the same content as one met earlier in this run: embedded once, counted here. */
  repeated: number;
  embedMs: number;
}

/** The SHA-256 of a photo's bytes, hex. */
export function photoHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The cache key of a model's head embeddings under a preprocessing mode and
 * precision (for int8 quantised here, its calibration: another calibration
 * gives slightly other embeddings).
 */
export function recipeOf(mode: string, model: Pick<ModelInfo, 'precision' | 'calibration'> = { precision: 'fp32' }): string {
  if (model.precision === 'fp32') return `${mode}:mirror-mean:1`;
  return model.calibration ? `${mode}:int8-${model.calibration.id}:mirror-mean:1` : `${mode}:int8:mirror-mean:1`;
}

/**
 * Collects examples for `photos`, reading each once, embedding what the
 * cache lacks in batches of `batch`. `onProgress(done, total)` follows.
 */
export async function collectExamples(
  photos: readonly LabelledPhoto[],
  engine: HeadEngine,
  cache: EmbeddingCache,
  key: { model: string; recipe: string },
  options: { batch?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<CollectedExamples> {
  const batch = options.batch ?? 16;
  const out: CollectedExamples = { examples: [], failed: [], duplicates: [], embedded: 0, cached: 0, repeated: 0, embedMs: 0 };
  const classesOf = new Map<string, { names: string[]; classes: Set<number> }>();
  const metBefore = new Set<string>();
  const failedContent = new Map<string, { reason: string; message: string; code: ResnetServeError['code'] }>();
  let done = 0;
  for (let i = 0; i < photos.length; i += batch) {
    const chunk = photos.slice(i, i + batch);
    const read = await Promise.all(
      chunk.map(async (p) => {
        try {
          const bytes = p.bytes ?? (await readFile(fsPath(p.path as string)));
          return { p, bytes, photo: photoHash(bytes) };
        } catch (err) {
          const reason = `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
          out.failed.push({ name: p.name, reason, message: reason });
          return null;
        }
      }),
    );
    const present = read.filter((r): r is NonNullable<typeof r> => r !== null);
    // A photo whose content came earlier in this run (in this chunk too) is embedded once.
    const repeats = new Set<(typeof present)[number]>();
    for (const r of present) {
      if (metBefore.has(r.photo)) repeats.add(r);
      else metBefore.add(r.photo);
    }
    const missing = present.filter((r) => !repeats.has(r) && !cache.lookup(key.model, key.recipe, r.photo));
    if (missing.length) {
      const t0 = performance.now();
      const analyzed = await engine(missing.map((m) => m.bytes));
      out.embedMs += performance.now() - t0;
      const fresh: { photo: string; value: { embedding: Float32Array; probabilities: Float32Array } }[] = [];
      analyzed.forEach((a, j) => {
        if (!a.ok) {
          const failure = { reason: `${a.error.code}: ${a.error.message}`, message: a.error.message, code: a.error.code };
          failedContent.set(missing[j].photo, failure);
          out.failed.push({ name: missing[j].p.name, ...failure });
          return;
        }
        fresh.push({ photo: missing[j].photo, value: { embedding: (a.outputs.embedding as OutputTensor).data, probabilities: Float32Array.from(softmax(a.outputs.logits.data)) } });
      });
      cache.store(key.model, key.recipe, fresh);
      out.embedded += fresh.length;
    }
    for (const r of present) {
      const hit = cache.lookup(key.model, key.recipe, r.photo);
      if (!hit) {
        // A repeat of a photo that could not be used fails as it did, by its own name.
        const failure = repeats.has(r) ? failedContent.get(r.photo) : undefined;
        if (failure) out.failed.push({ name: r.p.name, ...failure });
        continue;
      }
      if (repeats.has(r)) out.repeated++;
      else if (!missing.includes(r)) out.cached++;
      out.examples.push({ embedding: hit.embedding, probabilities: hit.probabilities, label: r.p.label, photo: r.photo, name: r.p.name });
      const seen = classesOf.get(r.photo) ?? { names: [], classes: new Set<number>() };
      seen.names.push(r.p.name);
      seen.classes.add(r.p.label);
      classesOf.set(r.photo, seen);
    }
    done += chunk.length;
    options.onProgress?.(done, photos.length);
  }
  for (const [photo, seen] of classesOf) {
    if (seen.classes.size > 1) out.duplicates.push({ photo, names: seen.names, classes: [...seen.classes] });
  }
  if (out.examples.length === 0 && photos.length > 0) {
    // One reason for all (none is an image, say): its own code, so the status and the page's sentence say it.
    const codes = new Set(out.failed.map((f) => f.code));
    const single = codes.size === 1 ? [...codes][0] : undefined;
    const why = out.failed.slice(0, 3).map((f) => `${f.name}: ${single ? f.message : f.reason}`).join('; ');
    const subject = photos.length === 1 ? 'The photo could not be used' : `None of the ${photos.length} photos could be used`;
    // Each photo with its own reason, for a client to name them (the page does, in its language).
    const refused = out.failed.map((f) => ({ name: f.name, code: f.code ?? 'IO_ERROR', error: f.message }));
    throw new ResnetServeError(single ?? 'INVALID_ARGUMENT', `${subject}: ${why}`, { details: { refused } });
  }
  return out;
}

/**
 * The heads a server answers with: read-only heads from files
 * (`--head defects=defects.json`) and heads made through the API, kept in
 * the cache folder (`heads/store.ts`). Makes, trains and removes API heads;
 * every input is checked before anything changes, so a bad request leaves
 * the heads as they were.
 */
import type { ClassificationService } from '../classify/service.js';
import { ResnetServeError, type ErrorCode } from '../errors.js';
import { EmbeddingCache } from '../heads/embedding-cache.js';
import { collectExamples, photoHash, recipeOf } from '../heads/examples.js';
import { Head, type TrainingSummary } from '../heads/head.js';
import { HeadStore, type StoredHead } from '../heads/store.js';
import { MAX_CLASSES, type TrainOptions } from '../heads/train.js';
import { drawInTurn } from './drawing.js';
import type { TrainReply, TrainTask } from '../heads/train-worker.js';
import type { UploadedImage } from './intake.js';

/** What the API says about a head. */
export interface HeadDescription {
  name: string;
  source: 'file' | 'api';
  /** The model it was made on; a head made on another model can only be deleted here. */
  model: { sha256: string; current: boolean };
  classes: { name: string; photos: number }[];
  trained: boolean;
  /** Classes or photos changed since training (API heads). */
  stale: boolean;
  training: TrainingSummary | null;
  /** A head file trained in the other precision than the model runs in: that its scores may differ a little. */
  note?: string;
}

const TRAIN_WORKER = new URL('../heads/train-worker.js', import.meta.url);

/** The most heads the API keeps. */
export const MAX_API_HEADS = 100;

/** Head names are used in URLs (`/v2/models/{name}`): letters, digits, space, `_.-`, 1–64 characters, any script. */
const HEAD_NAME = /^[\p{L}\p{N}][\p{L}\p{N} _.-]{0,63}$/u;

/** Why `name` cannot name a head on a server of `model`: a model's name, or a path v2 takes for itself; null when free. */
function reservedName(name: string, model: string): string | null {
  if (name === model || name === `${model}-image`) return `"${name}" is the name of a model on this server`;
  if (name === 'stats') return '"stats" names the statistics of every model in the v2 API (/v2/models/stats)';
  return null;
}

function bad(message: string): ResnetServeError {
  return new ResnetServeError('BAD_REQUEST', message);
}

/** A class name: any script, trimmed, 1–100 characters, no control characters. */
export function checkClassName(value: unknown): string {
  if (typeof value !== 'string') throw bad(`A class name must be text, not ${value === null ? 'null' : typeof value}`);
  const name = value.normalize('NFC').trim();
  if (name.length === 0) throw bad('A class name cannot be empty or only spaces');
  if (name.length > 100) throw bad(`Class name "${name.slice(0, 20)}…" is longer than 100 characters`);
  if (/\p{Cc}/u.test(name)) throw bad('A class name cannot contain control characters');
  // "." and ".." in a URL path are folder steps: such a class could never be named in /v1/heads/{name}/classes/{class}.
  if (/^\.+$/.test(name)) throw bad(`A class name cannot be only dots ("${name}")`);
  return name;
}

/** A photo a head could not take, with the reason (`code` as in error bodies). */
export interface RefusedPhoto {
  name: string;
  code: ErrorCode;
  error: string;
}

export class HeadRegistry {
  private readonly store: HeadStore;
  private readonly cache: EmbeddingCache;
  /** Parsed trained heads by name (API heads are parsed once per training). */
  private readonly parsed = new Map<string, Head>();

  private constructor(
    private readonly service: ClassificationService,
    private readonly files: Map<string, Head>,
    /** Notes on the head files, by name (one trained in the other precision). */
    private readonly fileNotes: Map<string, string> = new Map(),
  ) {
    this.store = new HeadStore(service.cacheDir);
    this.cache = new EmbeddingCache(service.cacheDir);
  }

  /** Opens the registry of `service`, with heads read from files (`name → path`), each checked against the model. */
  static async open(service: ClassificationService, files: Record<string, string> = {}): Promise<HeadRegistry> {
    const loaded = new Map<string, Head>();
    const notes = new Map<string, string>();
    const model = service.info.name;
    for (const [name, path] of Object.entries(files)) {
      if (!HEAD_NAME.test(name)) throw new ResnetServeError('INVALID_ARGUMENT', `--head ${name}=${path}: a head name is letters, digits, space, _ . or - (up to 64)`);
      const taken = reservedName(name, model);
      if (taken) throw new ResnetServeError('INVALID_ARGUMENT', `--head ${name}=${path}: ${taken}; choose another name for the head`);
      const head = await Head.load(path, { name: service.info.name, sha256: service.info.sha256 }).catch((err: ResnetServeError & { reason?: string }) => {
        throw err.reason === undefined ? err : new ResnetServeError('INVALID_ARGUMENT', `--head ${name}=${path}: cannot read it (${err.reason})`);
      });
      loaded.set(name, head.named(name));
      const note = head.precisionNote(service.info.precision, `--head ${name}=${path}`);
      if (note) notes.set(name, note);
    }
    const registry = new HeadRegistry(service, loaded, notes);
    for (const name of loaded.keys()) {
      if (registry.store.get(name)) {
        registry.close();
        throw new ResnetServeError('INVALID_ARGUMENT', `--head ${name}=${files[name]}: a head made on the page or through the API is already named "${name}"; choose another NAME`);
      }
    }
    return registry;
  }

  /** What the server says at start about its head files (one trained in the other precision). */
  notes(): string[] {
    return [...this.fileNotes.values()];
  }

  private get model(): string {
    return this.service.info.sha256;
  }

  /** The trained head `name`, for classifying; NOT_FOUND, CONFLICT (another model's) or HEAD_NOT_TRAINED otherwise. */
  get(name: string): Head {
    const ready = this.files.get(name) ?? this.parsed.get(name);
    if (ready) return ready;
    const stored = this.store.get(name);
    if (!stored) throw new ResnetServeError('NOT_FOUND', `No head named "${name}"${this.trainedNames().length ? `; heads here: ${this.trainedNames().join(', ')}` : ''}`);
    this.requireThisModel(stored);
    if (!stored.trained) throw new ResnetServeError('HEAD_NOT_TRAINED', `Head "${name}" is not trained yet: add photos to each class, then POST /v1/heads/${encodeURIComponent(name)}/train`);
    // Parsed once (after a restart); training through this registry replaces it.
    const head = Head.parse(stored.trained, `head ${name}`, { name: this.service.info.name, sha256: this.model });
    this.parsed.set(name, head);
    return head;
  }

  /** Whether a head of that name exists here, trained or not (so a request naming it is told why it cannot answer yet). */
  has(name: string): boolean {
    return this.files.has(name) || this.store.get(name) !== null;
  }

  /** Heads that can answer now. */
  trainedNames(): string[] {
    return [...this.files.keys(), ...this.store.list().filter((h) => h.trained && h.modelSha256 === this.model && !this.files.has(h.name)).map((h) => h.name)];
  }

  /** Every head, trained or not (those made on another model too, so they can be deleted). */
  list(): HeadDescription[] {
    const fromFiles = [...this.files.keys()].map((name) => this.describe(name));
    const fromApi = this.store.list().filter((h) => !this.files.has(h.name)).map((h) => this.describe(h.name));
    return [...fromFiles, ...fromApi];
  }

  describe(name: string): HeadDescription {
    const file = this.files.get(name);
    if (file) {
      const classes = file.classes.map((c) => ({ name: c, photos: file.training.counts[c] ?? 0 }));
      const note = this.fileNotes.get(name);
      return { name, source: 'file', model: { sha256: file.backbone.sha256, current: true }, classes, trained: true, stale: false, training: file.training, ...(note && { note }) };
    }
    const stored = this.find(name);
    const counts = new Map<string, number>();
    for (const e of this.store.examples(name)) counts.set(e.className, (counts.get(e.className) ?? 0) + 1);
    const training = stored.trained ? (JSON.parse(stored.trained) as { training: TrainingSummary }).training : null;
    return {
      name,
      source: 'api',
      model: { sha256: stored.modelSha256, current: stored.modelSha256 === this.model },
      classes: stored.classes.map((c) => ({ name: c, photos: counts.get(c) ?? 0 })),
      trained: stored.trained !== null,
      stale: stored.stale,
      training: training && { ...training, classes: training.classes ?? stored.classes, warnings: training.warnings ?? [] },
    };
  }

  /** The example photos of an API head; `version` names a photo's content (the same in every class that has it). */
  examples(name: string): { id: number; class: string; name: string; version: string }[] {
    this.find(name);
    return this.store.examples(name).map((e) => ({ id: e.id, class: e.className, name: e.name, version: e.photo.slice(0, 16) }));
  }

  thumbnail(name: string, id: number): Buffer {
    this.find(name);
    const jpeg = this.store.thumbnail(name, id);
    if (!jpeg) throw new ResnetServeError('NOT_FOUND', `Head "${name}" has no photo ${id}`);
    return jpeg;
  }

  /** An API head, whichever model it was made on. */
  private find(name: string): StoredHead {
    if (this.files.has(name)) throw new ResnetServeError('CONFLICT', `Head "${name}" was loaded from a file (serve --head) and cannot be changed here; make a new head to teach, or change the file and restart`);
    const stored = this.store.get(name);
    if (!stored) throw new ResnetServeError('NOT_FOUND', `No head named "${name}"`);
    return stored;
  }

  private requireThisModel(stored: StoredHead): void {
    if (stored.modelSha256 !== this.model) {
      throw new ResnetServeError(
        'CONFLICT',
        `Head "${stored.name}" was made on another model (sha256 ${stored.modelSha256.slice(0, 12)}…), not on ${this.service.info.name}: serve that model to use it, or delete it here`,
      );
    }
  }

  /** An API head of this server's model, to change. */
  private requireStored(name: string): StoredHead {
    const stored = this.find(name);
    this.requireThisModel(stored);
    return stored;
  }

  /** Makes an API head, with optional class names. */
  create(nameValue: unknown, classValues: unknown = []): HeadDescription {
    if (typeof nameValue !== 'string' || !HEAD_NAME.test(nameValue.normalize('NFC').trim())) {
      throw bad('A head name is 1–64 letters, digits, spaces, _ . or -, starting with a letter or digit (any script)');
    }
    const name = nameValue.normalize('NFC').trim();
    const taken = reservedName(name, this.service.info.name);
    if (taken) throw new ResnetServeError('NAME_RESERVED', `${taken}; choose another name for the head`);
    const classes = this.checkClasses(classValues, []);
    if (this.files.has(name)) throw new ResnetServeError('CONFLICT', `A head named "${name}" is loaded from a file (serve --head), so the name is taken; choose another name`);
    // Every head is listed, looked up by the v2 and TorchServe routes and kept in heads.sqlite: 5,000 made
    // through the API held the event loop for 35 s on GET /v1/heads.
    if (!this.store.get(name) && this.store.list().length >= MAX_API_HEADS) {
      throw new ResnetServeError('CONFLICT', `This server keeps at most ${MAX_API_HEADS} heads made through the API; delete one first (DELETE /v1/heads/NAME)`);
    }
    if (!this.store.create(name, this.model, classes)) {
      const other = this.store.get(name);
      const where = other && other.modelSha256 !== this.model ? ` (made on another model, sha256 ${other.modelSha256.slice(0, 12)}…; delete it to reuse the name)` : '';
      throw new ResnetServeError('CONFLICT', `A head named "${name}" already exists${where}`);
    }
    return this.describe(name);
  }

  private checkClasses(values: unknown, existing: readonly string[]): string[] {
    if (!Array.isArray(values)) throw bad('"classes" must be a list of class names');
    const names = values.map(checkClassName);
    const all = new Set([...existing, ...names]);
    if (all.size > MAX_CLASSES) throw bad(`A head has at most ${MAX_CLASSES} classes; this would make ${all.size}`);
    if (new Set(names).size !== names.length) throw bad('Each class name may appear once');
    return names;
  }

  addClasses(name: string, values: unknown): HeadDescription {
    const stored = this.requireStored(name);
    this.store.addClasses(name, this.checkClasses(values, stored.classes));
    return this.describe(name);
  }

  removeClass(name: string, className: string): HeadDescription {
    this.requireStored(name);
    if (!this.store.removeClass(name, className.normalize('NFC'))) throw new ResnetServeError('NOT_FOUND', `Head "${name}" has no class "${className}"`);
    return this.describe(name);
  }

  /**
   * Adds photos to a class of an API head. Every photo is decoded and
   * embedded first (embeddings cached by content); the photos that can be
   * used are added and the others listed in `refused` with their reason (a
   * photo the class has already among them). When none can be used the
   * request is refused (with their reason's code when they share one: 415 not
   * images, 422 damaged, 409 all there already), `refused` naming each.
   */
  async addExamples(name: string, classValue: unknown, images: readonly UploadedImage[], signal?: AbortSignal): Promise<{ added: { id: number; name: string }[]; refused: RefusedPhoto[]; alsoIn: { name: string; classes: string[] }[]; head: HeadDescription }> {
    const stored = this.requireStored(name);
    if (classValue === undefined || classValue === '') throw bad(`Say which class the photos are for: POST /v1/heads/${encodeURIComponent(name)}/examples?class=NAME`);
    const className = checkClassName(classValue);
    if (!stored.classes.includes(className)) throw new ResnetServeError('NOT_FOUND', `Head "${name}" has no class "${className}"; add it first (POST /v1/heads/${encodeURIComponent(name)}/classes)`);
    if (images.length === 0) throw new ResnetServeError('NO_FILE', 'No photo uploaded');
    // A photo the class has already (or that this upload carries twice) is named, not added again.
    const examples = this.store.examples(name);
    const inClass = new Set(examples.filter((e) => e.className === className).map((e) => e.photo));
    const inUpload = new Set<string>();
    const repeated: RefusedPhoto[] = [];
    const fresh: { img: UploadedImage; photo: string }[] = [];
    for (const img of images) {
      const photo = photoHash(img.bytes);
      if (inClass.has(photo)) repeated.push({ name: img.name, code: 'ALREADY_ADDED', error: inUpload.has(photo) ? 'sent twice in this upload' : `already in class "${className}"` });
      else fresh.push({ img, photo });
      inClass.add(photo);
      inUpload.add(photo);
    }
    // Refusals listed in the order the photos came.
    const inOrder = (refused: RefusedPhoto[]): RefusedPhoto[] => refused.map((r, i) => ({ r, at: images.findIndex((img) => img.name === r.name), i })).sort((a, b) => a.at - b.at || a.i - b.i).map(({ r }) => r);
    if (fresh.length === 0) {
      const subject = images.length === 1 ? 'The photo is' : `All ${images.length} photos are`;
      throw new ResnetServeError('ALREADY_ADDED', `${subject} in class "${className}" already`, { details: { refused: repeated } });
    }
    const collected = await collectExamples(
      fresh.map(({ img }) => ({ label: 0, bytes: img.bytes, name: img.name })),
      (bytes) => this.service.analyzeMany(bytes, ['embedding'], signal, { mirror: true, whenFull: 'refuse' }),
      this.cache,
      { model: this.model, recipe: recipeOf(this.service.mode, this.service.info) },
    ).catch((err) => {
      if (!(err instanceof ResnetServeError)) throw err;
      if (!repeated.length) throw new ResnetServeError(err.code === 'INVALID_ARGUMENT' ? 'BAD_REQUEST' : err.code, err.message, { details: err.details });
      // Reasons that differ (one being "already there") are a 400, as a shared one is its own code.
      const refused = inOrder([...repeated, ...((err.details?.refused as RefusedPhoto[]) ?? [])]);
      const why = refused.slice(0, 3).map((r) => `${r.name}: ${r.error}`).join('; ');
      throw new ResnetServeError('BAD_REQUEST', `None of the ${images.length} photos could be added: ${why}`, { details: { refused } });
    });
    const usable = new Set(collected.examples.map((e) => e.photo));
    const kept = fresh.filter((k) => usable.has(k.photo));
    const refused = inOrder([...repeated, ...collected.failed.map((f) => ({ name: f.name, code: f.code ?? 'BAD_REQUEST', error: f.message }))]);
    const { drawableImage } = await import('../image/decode.js');
    const thumbnails = await Promise.all(kept.map(({ img }) => drawInTurn(async () => (await drawableImage(img.bytes)).rotate().resize(160, 160, { fit: 'cover' }).jpeg({ quality: 80 }).toBuffer(), signal)));
    // A request that ran out of time (503) or whose client left adds nothing: a retry would add the photos twice.
    signal?.throwIfAborted();
    const ids = this.store.addExamples(name, className, kept.map(({ img, photo }, i) => ({ photo, name: img.name, thumbnail: thumbnails[i] })));
    // Added, but in another class too (a photo in two classes teaches neither): said now, not only after training.
    const otherClasses = (photo: string): string[] => [...new Set(examples.filter((e) => e.photo === photo && e.className !== className).map((e) => e.className))];
    const alsoIn = kept.map(({ img, photo }) => ({ name: img.name, classes: otherClasses(photo) })).filter((a) => a.classes.length > 0);
    return { added: ids.map((id, i) => ({ id, name: kept[i].img.name })), refused, alsoIn, head: this.describe(name) };
  }

  removeExample(name: string, id: number): HeadDescription {
    this.requireStored(name);
    if (!this.store.removeExample(name, id)) throw new ResnetServeError('NOT_FOUND', `Head "${name}" has no photo ${id}`);
    return this.describe(name);
  }

  /** Trains an API head on its photos (embeddings from the cache) and puts it to use; stops when `signal` aborts. */
  async train(name: string, options: TrainOptions = {}, signal?: AbortSignal): Promise<HeadDescription> {
    const stored = this.requireStored(name);
    if (stored.classes.length < 2) throw bad(`Head "${name}" needs at least 2 classes to learn to tell apart; it has ${stored.classes.length}`);
    const examples = this.store.examples(name);
    const empty = stored.classes.filter((c) => !examples.some((e) => e.className === c));
    if (empty.length) throw bad(`Every class needs photos; none in ${empty.map((c) => `"${c}"`).join(', ')}`);
    const recipe = recipeOf(this.service.mode, this.service.info);
    const training = examples.map((e) => {
      const hit = this.cache.lookup(this.model, recipe, e.photo);
      if (!hit) throw new ResnetServeError('INTERNAL', `The embedding of photo ${e.id} is missing from the cache; remove and add it again`);
      return { embedding: hit.embedding, probabilities: hit.probabilities, label: stored.classes.indexOf(e.className), photo: e.photo, name: e.name };
    });
    // Fitting takes from a fraction of a second to many (100 classes: ~6 s): in a thread of its own, off the event loop and the image workers.
    const task: TrainTask = { name, classes: stored.classes, examples: training, backbone: { name: this.service.info.name, sha256: this.model, dim: training[0].embedding.length, precision: this.service.info.precision }, options };
    const reply = await this.service.offload<TrainTask, TrainReply>(TRAIN_WORKER, task, signal);
    if (!reply.ok) throw new ResnetServeError(reply.code === 'INVALID_ARGUMENT' ? 'BAD_REQUEST' : reply.code, reply.message);
    if (!this.store.saveTrained(name, stored.createdAt, stored.contents, reply.json)) throw new ResnetServeError('NOT_FOUND', `Head "${name}" was deleted while it trained`);
    this.parsed.set(name, Head.parse(reply.json, `head ${name}`, { name: this.service.info.name, sha256: this.model }));
    return this.describe(name);
  }

  /** The head file of a trained head, to download: an API head's as stored (encoding a large head again held the event loop 1.4 s). */
  file(name: string): string {
    const head = this.get(name);
    const stored = this.files.has(name) ? null : this.store.get(name);
    return stored?.trained ?? JSON.stringify(head.toJSON());
  }

  remove(name: string): void {
    this.find(name);
    this.store.remove(name);
    this.parsed.delete(name);
  }

  close(): void {
    this.store.close();
    this.cache.close();
  }
}

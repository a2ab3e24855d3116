/**
 * The head file format: JSON with the backbone, classes, weights, rejection
 * data and training summary, sealed by a SHA-256 of the rest. Reading checks
 * every field's type and size before anything uses it (as sharp checks its
 * options), so a hand-edited file whose hash was recomputed is still refused
 * with the field that is wrong, never a TypeError later.
 */
import { createHash } from 'node:crypto';
import { ResnetServeError } from '../errors.js';
import type { Backbone, TrainingSummary } from './head.js';
import { fromFloatBytes, fromHalfBytes } from './vectors.js';

/** The file format's name and version. */
export const HEAD_FORMAT = 'resnet-serve-head';
export const HEAD_VERSION = 2;
/** Versions this build reads: 1 (rejection by a threshold per signal) and 2 (Fisher's sum of the two). */
const READABLE_VERSIONS = [1, 2];

/** The rejection data as stored. */
export interface RejectionFile {
  k: number;
  dim: number;
  examples: string;
  profile: string;
  heldOut: { neighbours: number[]; profile: number[]; combined?: number[] };
  thresholds: { combined: number } | { neighbours: number; profile: number };
  heldOutRejected: number;
}

/** A head file's JSON. */
export interface HeadFile {
  format: string;
  version: number;
  name: string;
  backbone: Backbone;
  embedding: string;
  classes: string[];
  weights: string;
  bias: number[];
  rejection: null | RejectionFile;
  training: TrainingSummary;
  sha256?: string;
}

/** A checked file with its vectors decoded. */
export interface DecodedHeadFile {
  file: HeadFile;
  weights: Float32Array;
  rejection: null | { examples: Float32Array; profile: Float32Array };
}

/** The SHA-256 that seals a head file (of everything but itself). */
export function headDigest(file: HeadFile): string {
  const { sha256: _omit, ...rest } = file;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown, min: number, max: number): v is number => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'string' ? JSON.stringify(v.length > 30 ? `${v.slice(0, 30)}…` : v) : typeof v === 'object' ? 'an object' : String(v));

function base64(value: unknown, field: string, fail: (why: string) => never): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) fail(`"${field}" must be base64 text, got ${describe(value)}`);
  return Buffer.from(value as string, 'base64');
}

function finiteList(value: unknown, field: string, fail: (why: string) => never): number[] {
  if (!Array.isArray(value) || !value.every(isFiniteNumber)) fail(`"${field}" must be a list of finite numbers`);
  return value as number[];
}

function ascendingList(value: unknown, field: string, fail: (why: string) => never): number[] {
  const list = finiteList(value, field, fail);
  if (list.length === 0) fail(`"${field}" must not be empty`);
  for (let i = 1; i < list.length; i++) if (list[i] < list[i - 1]) fail(`"${field}" must be in ascending order`);
  return list;
}

function allFinite(values: Float32Array): boolean {
  for (const v of values) if (!Number.isFinite(v)) return false;
  return true;
}

/**
 * Parses and checks a head file's text: format, version, seal, then every
 * field. `label` names the file in messages.
 */
export function readHeadFile(text: string, label: string): DecodedHeadFile {
  const fail = (why: string): never => {
    throw new ResnetServeError('INVALID_ARGUMENT', `${label} is not a usable head file: ${why}`);
  };
  // A photo or a model given by mistake: said in words, never its bytes echoed to the terminal.
  if (/[\u0000-\u0008\u000e-\u001f\ufffd]/u.test(text.slice(0, 4096))) return fail('it is binary data, not the JSON text of a head file (a photo or a model given in its place?)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return fail(`it is not valid JSON (${(err as Error).message.replace(/[\u0000-\u001f\u007f]/gu, '?')})`);
  }
  if (!isObject(parsed) || parsed.format !== HEAD_FORMAT) return fail(`it is not a ${HEAD_FORMAT} file`);
  const file = parsed as unknown as HeadFile;
  if (!READABLE_VERSIONS.includes(file.version)) fail(`it is version ${describe(file.version)}; this resnet-serve reads versions ${READABLE_VERSIONS.join(' and ')}`);
  if (typeof file.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(file.sha256)) fail(`it has no SHA-256 of its content ("sha256" is ${describe(file.sha256)}): it was not written by train, or was edited; train it again`);
  if (file.sha256 !== headDigest(file)) fail('its content does not match its SHA-256 (the file was changed or damaged after training); train it again');

  if (typeof file.name !== 'string' || file.name.trim() === '') fail(`"name" must be a non-empty text, got ${describe(file.name)}`);
  const b = file.backbone as unknown;
  if (!isObject(b) || typeof b.name !== 'string' || typeof b.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(b.sha256) || !isInt(b.dim, 1, 65536)) {
    fail(`"backbone" must be {name, sha256 (64 hex digits), dim (1–65536)}, got ${describe(b)}`);
  }
  const precision = file.backbone.precision as unknown;
  if (precision !== undefined && precision !== 'fp32' && precision !== 'int8') fail(`"backbone.precision" must be fp32 or int8, got ${describe(precision)}`);
  const dim = file.backbone.dim;
  const classes = file.classes as unknown;
  if (!Array.isArray(classes) || classes.length < 2 || classes.length > 1000) fail(`"classes" must list 2 to 1000 class names, got ${describe(classes)}`);
  if (!(classes as unknown[]).every((c) => typeof c === 'string' && c.trim() !== '')) fail('every class name must be a non-empty text');
  if (new Set(classes as string[]).size !== (classes as string[]).length) fail('a class name appears twice');
  const k = file.classes.length;
  const weights = fromFloatBytes(base64(file.weights, 'weights', fail));
  if (weights.length !== k * dim || !allFinite(weights)) fail(`"weights" must hold ${k}×${dim} finite float32 values, it has ${weights.length}`);
  if (finiteList(file.bias, 'bias', fail).length !== k) fail(`"bias" must have ${k} values, one per class`);

  let rejection: DecodedHeadFile['rejection'] = null;
  const r = file.rejection as unknown;
  if (r !== null) {
    if (!isObject(r)) return fail(`"rejection" must be null or an object, got ${describe(r)}`);
    if (!isInt(r.k, 1, 100)) fail(`"rejection.k" must be an integer from 1 to 100, got ${describe(r.k)}`);
    if (r.dim !== dim) fail(`"rejection.dim" must be the backbone's ${dim}, got ${describe(r.dim)}`);
    const examples = fromHalfBytes(base64(r.examples, 'rejection.examples', fail));
    if (examples.length === 0 || examples.length % dim !== 0 || examples.length / dim < (r.k as number) || !allFinite(examples)) {
      fail(`"rejection.examples" must hold at least k vectors of ${dim} finite values`);
    }
    const profile = fromFloatBytes(base64(r.profile, 'rejection.profile', fail));
    if (profile.length === 0 || !allFinite(profile)) fail('"rejection.profile" must hold finite values');
    const heldOut = r.heldOut;
    if (!isObject(heldOut)) return fail('"rejection.heldOut" must be {neighbours, profile, combined}');
    ascendingList(heldOut.neighbours, 'rejection.heldOut.neighbours', fail);
    ascendingList(heldOut.profile, 'rejection.heldOut.profile', fail);
    const t = r.thresholds;
    if (file.version === 1) {
      if (!isObject(t) || !isFiniteNumber(t.neighbours) || !isFiniteNumber(t.profile)) fail('"rejection.thresholds" must be {neighbours, profile} numbers');
    } else {
      ascendingList(heldOut.combined, 'rejection.heldOut.combined', fail);
      if (!isObject(t) || !isFiniteNumber(t.combined)) fail('"rejection.thresholds" must be {combined: number}');
    }
    if (!isFiniteNumber(r.heldOutRejected) || r.heldOutRejected < 0 || r.heldOutRejected > 1) fail('"rejection.heldOutRejected" must be a fraction');
    rejection = { examples, profile };
  }
  if (!isObject(file.training)) fail('"training" must be an object');
  // Files from before these fields existed.
  const training = file.training as Partial<TrainingSummary>;
  file.training = { ...training, warnings: training.warnings ?? [], evaluated: training.evaluated ?? 0, classes: file.classes } as TrainingSummary;
  return { file, weights, rejection };
}

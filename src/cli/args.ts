/** Command-line options: their definitions, environment fallbacks, and checks shared by the commands. */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { ResnetServeError } from '../errors.js';
import { displayPath } from '../library/paths.js';
import { OFFICIAL_CHECKPOINTS, isDefaultModel } from '../model/weights.js';
import type { LabelLanguage, ModelOptions } from '../types.js';
import { downloadProgress, quantizeProgress } from './progress.js';

/** A usage error: printed with the usage hint, exit code 2. */
export class UsageError extends Error {}

export const OPTIONS = {
  model: { type: 'string' },
  threads: { type: 'string' },
  preprocess: { type: 'string' },
  precision: { type: 'string' },
  calibrate: { type: 'string' },
  offline: { type: 'boolean' },
  'top-k': { type: 'string' },
  lang: { type: 'string' },
  json: { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  workers: { type: 'string' },
  'max-upload-mb': { type: 'string' },
  'max-files': { type: 'string' },
  'max-pixels': { type: 'string' },
  'timeout-ms': { type: 'string' },
  'max-batch': { type: 'string' },
  'batch-wait-us': { type: 'string' },
  'max-queue': { type: 'string' },
  'grace-period-ms': { type: 'string' },
  'headers-timeout-ms': { type: 'string' },
  'body-timeout-ms': { type: 'string' },
  'keep-alive-ms': { type: 'string' },
  'min-score': { type: 'string' },
  xmp: { type: 'boolean' },
  'xmp-name': { type: 'string' },
  db: { type: 'string' },
  jobs: { type: 'string' },
  labels: { type: 'string' },
  format: { type: 'string' },
  'api-key': { type: 'string' },
  'api-key-file': { type: 'string' },
  'api-key-for': { type: 'string' },
  'max-inflight-mb': { type: 'string' },
  'max-decode-ms': { type: 'string' },
  'startup-timeout-ms': { type: 'string' },
  'cors-origin': { type: 'string' },
  log: { type: 'boolean' },
  head: { type: 'string', multiple: true },
  out: { type: 'string' },
  holdout: { type: 'string' },
  cv: { type: 'string' },
  reject: { type: 'string' },
  'reject-rate': { type: 'string' },
  name: { type: 'string' },
  library: { type: 'string' },
  limit: { type: 'string' },
  like: { type: 'string' },
  explain: { type: 'string' },
  class: { type: 'string' },
  retag: { type: 'boolean' },
  threshold: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

export type Parsed = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** The environment variable an option falls back to: `top-k` → RESNET_SERVE_TOP_K. */
export const environmentName = (option: string): string => `RESNET_SERVE_${option.toUpperCase().replace(/-/g, '_')}`;

/** An on/off environment variable: 1/true/yes/on or 0/false/no/off; anything else is a mistake to name. */
function switchValue(variable: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new UsageError(`${variable} must be on or off (1/true/yes/on or 0/false/no/off), got ${JSON.stringify(value)}`);
}

/**
 * What Kubernetes (and Docker links) put in every container for a Service
 * named resnet-serve: RESNET_SERVE_PORT=tcp://10.96.0.12:80. Not a setting
 * of ours, however its name reads.
 */
const SERVICE_LINK = /^(tcp|udp|sctp):\/\/[^/\s]+:\d+$/;

/** Fills options not given on the command line from RESNET_SERVE_<NAME> environment variables. */
export function withEnvironment(values: Parsed, env: NodeJS.ProcessEnv): Parsed {
  const out: Record<string, unknown> = { ...values };
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if (name === 'help' || name === 'version' || out[name] !== undefined) continue;
    const value = env[environmentName(name)];
    if (value === undefined || value === '' || SERVICE_LINK.test(value)) continue;
    if ('multiple' in spec && spec.multiple) out[name] = value.split(',').map((v) => v.trim()).filter(Boolean);
    else if (spec.type === 'boolean') out[name] = switchValue(environmentName(name), value);
    else out[name] = value;
  }
  // RESNET_SERVE_CALIBRATE is a setting of int8 runs: a run in fp32 leaves it aside (given on the command line, it is an error).
  const precision = typeof out.precision === 'string' ? out.precision.toLowerCase() : 'fp32';
  if (values.calibrate === undefined && precision !== 'int8') delete out.calibrate;
  return out as Parsed;
}

export function intOption(value: string | undefined, name: string, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/**
 * `serve --head` options (repeatable) as name → path: `NAME=FILE`, or a
 * `FILE` alone, served under its file name without `.json` (`classify --head`
 * takes a file alone, so the same words work for both).
 */
export function headOptions(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values ?? []) {
    const eq = value.indexOf('=');
    if (eq === 0 || eq === value.length - 1) throw new UsageError(`--head takes NAME=FILE or FILE (e.g. --head defects=defects.json), got ${JSON.stringify(value)}`);
    const name = eq < 0 ? basename(value).replace(/\.json$/i, '') : value.slice(0, eq).trim();
    if (name === '') throw new UsageError(`--head ${value}: a head file alone is served under its name without .json, and this one has none left: give NAME=${value}`);
    if (out[name]) throw new UsageError(`--head ${name} is given twice`);
    out[name] = eq < 0 ? value : value.slice(eq + 1);
  }
  return out;
}

/** `--lang`: en, zh or both; `fallback` when it is not given. */
export function langOption<T extends LabelLanguage | undefined>(value: string | undefined, fallback: T): LabelLanguage | T {
  if (value === undefined) return fallback;
  const lang = value.toLowerCase();
  if (lang !== 'en' && lang !== 'zh' && lang !== 'both') throw new UsageError(`--lang must be en, zh or both, got ${JSON.stringify(value)}`);
  return lang;
}

/**
 * A decimal fraction option (`0.25`, `.5`, `1`; no hex, no exponent, no
 * empty string) within `min`..`max`, each end included unless `above` /
 * `below` says it is not.
 */
export function fractionOption(value: string | undefined, name: string, fallback: number | undefined, range: { min: number; max: number; above?: boolean; below?: boolean; what: string }): number | undefined {
  if (value === undefined) return fallback;
  const n = /^(?:\d+(?:\.\d*)?|\.\d+)$/.test(value.trim()) ? Number(value) : NaN;
  const low = range.above ? n > range.min : n >= range.min;
  const high = range.below ? n < range.max : n <= range.max;
  if (!low || !high) {
    const span = range.above ? `above ${range.min} and ${range.below ? 'below' : 'at most'} ${range.max}` : `from ${range.min} to ${range.below ? 'below ' : ''}${range.max}`;
    throw new UsageError(`${name} must be ${range.what} ${span}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * A model name as people write it (`ResNet50`, `resnet-18`) as the name we
 * know, when no file of that name is there; anything else as given.
 */
export function modelName(spec: string | undefined): string | undefined {
  if (spec === undefined || Object.hasOwn(OFFICIAL_CHECKPOINTS, spec) || existsSync(spec)) return spec;
  const plain = spec.toLowerCase().replace(/[-_ ]/g, '');
  return Object.hasOwn(OFFICIAL_CHECKPOINTS, plain) ? plain : spec;
}

/**
 * A model's precision in words: `fp32`, `int8` (given quantised, or not
 * known), or `int8, calibrated on DIR` / `on the built-in photos` (`folder`
 * null) for one quantised here.
 */
export function describePrecision(precision: 'fp32' | 'int8', folder?: string | null): string {
  if (precision === 'fp32' || folder === undefined) return precision;
  return `int8, calibrated on ${folder === null ? 'the built-in photos' : displayPath(folder)}`;
}

/** The model options every command shares, validated before any work starts. */
export function modelOptions(values: Parsed): ModelOptions {
  const threads = intOption(values.threads, '--threads', undefined);
  if (threads === 0) throw new UsageError('--threads must be at least 1');
  const maxPixels = intOption(values['max-pixels'], '--max-pixels', undefined);
  if (maxPixels === 0) throw new UsageError('--max-pixels must be at least 1');
  const maxDecodeMs = intOption(values['max-decode-ms'], '--max-decode-ms', undefined);
  if (maxDecodeMs === 0) throw new UsageError('--max-decode-ms must be at least 1');
  const preprocess = values.preprocess ?? 'fast';
  if (preprocess !== 'fast' && preprocess !== 'exact') throw new UsageError(`--preprocess must be fast or exact, got ${JSON.stringify(preprocess)}`);
  // INT8 and FP32 as people write them in prose.
  const precision = values.precision?.toLowerCase() ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'int8') throw new UsageError(`--precision must be fp32 or int8, got ${JSON.stringify(precision)}`);
  if (values.calibrate !== undefined && precision !== 'int8') throw new UsageError('--calibrate goes with --precision int8');
  if (values.calibrate === '') throw new UsageError('--calibrate needs a folder of photos');
  const startupTimeoutMs = intOption(values['startup-timeout-ms'], '--startup-timeout-ms', undefined);
  if (startupTimeoutMs === 0) throw new UsageError('--startup-timeout-ms must be at least 1');
  return {
    model: modelName(values.model),
    threads,
    maxPixels,
    maxDecodeMs,
    preprocess,
    precision,
    calibrate: values.calibrate,
    startupTimeoutMs,
    onQuantizeProgress: quantizeProgress(),
    offline: values.offline,
    onDownloadProgress: downloadProgress('Downloading weights'),
  };
}

/**
 * Without --model the official resnet18 is used: a head trained on another
 * model is refused before it loads (or is downloaded), naming that model.
 */
export function checkDefaultBackbone({ backbone }: { backbone: { name: string; sha256: string } }, path: string): void {
  if (!isDefaultModel(backbone.sha256)) {
    throw new ResnetServeError('INVALID_ARGUMENT', `${path} was trained on ${backbone.name} (sha256 ${backbone.sha256.slice(0, 12)}…): give that model with --model (without --model, the official resnet18 is used)`);
  }
}

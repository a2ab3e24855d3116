/**
 * The `resnet-serve` command: `classify`, `serve`, `tag`, `search`, `export`, `fetch-model`, `info`.
 * Exit codes: 0 success, 1 a file or the model failed, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { ImageClassifier } from '../classify/classifier.js';
import { ResnetServeError } from '../errors.js';
import { loadModel } from '../model/load-model.js';
import { ORT_VERSION } from '../model/session.js';
import { OFFICIAL_CHECKPOINTS, defaultCacheDir, findCachedCheckpoint, torchHubCheckpointDir, weightsBaseUrl } from '../model/weights.js';
import type { LabelLanguage, ModelOptions } from '../types.js';
import { expandPaths } from './files.js';
import { formatJsonLine, formatOutcome } from './format.js';
import { downloadProgress } from './progress.js';
import { startServer } from '../server/server.js';
import { exportCommand, searchCommand, tagCommand } from './tag.js';
import { join } from 'node:path';

const USAGE = `Usage: resnet-serve <command> [options]

Commands:
  classify <files or folders…>   classify images (folders are walked recursively)
      --top-k N                  how many labels per image (default 3)
      --lang en|zh|both          label language (default en)
      --json                     one JSON object per line instead of a table
  serve                          serve the HTTP API and the web page
      --port N                   port (default 8080, or $PORT)
      --host ADDR                address (default 127.0.0.1, or $HOST; 0.0.0.0 for all)
      --workers N                preprocessing threads (default: half the CPUs available)
      --max-upload-mb N          largest upload (default 20)
      --max-files N              most files per request (default 32)
      --max-pixels N             largest decoded image (default 50000000)
      --timeout-ms N             request deadline (default 30000)
      --headers-timeout-ms N     time to send the request headers (default 10000)
      --body-timeout-ms N        time to send the whole request (default 60000)
      --max-batch N              most images per inference batch (default 16)
      --batch-wait-us N          how long a partial batch waits (default 0)
      --max-queue N              most images in progress; then 503 (default 64)
      --max-inflight-mb N        request bodies held in memory at once; then 503 (default 128)
      --max-decode-ms N          longest one image may take to decode (default 10000)
      --startup-timeout-ms N     longest loading and the first inference may take (default 120000)
      --grace-period-ms N        on SIGTERM, how long to finish requests (default 10000)
      --api-key-file FILE        require "Authorization: Bearer <key>" with the key read from FILE
                                 (health checks and the page stay open); or set RESNET_SERVE_API_KEY.
                                 --api-key KEY also works, but shows the key in the process list
      --cors-origin LIST         comma-separated origins allowed to call the API from browsers (default none)
      --log                      log requests as JSON lines (never image bytes or keys)
  tag <folders…>                 tag a photo library: SQLite index, optional XMP sidecars
      --top-k N                  labels per photo (default 5)
      --min-score P              drop labels and categories below this probability (default 0.1)
      --lang en|zh|both          keyword language (default both)
      --xmp                      write IMG_1.jpg.xmp sidecars (--xmp-name replace: IMG_1.xmp)
      --db PATH                  the index (default <first folder>/.resnet-serve/tags.sqlite)
      --jobs N                   images decoded in parallel (default: half the CPUs)
      --labels FILE              your own category mapping (format of data/categories.json)
  search <words…> [--db PATH]    photos whose tags match, in English or Chinese, best first
  export --format csv|json       the index, to stdout
  fetch-model                    download and verify the weights ahead of time
  info                           show the model, its source, hash, cache and runtime

Every option can also be set as an environment variable: --max-batch 8 is
RESNET_SERVE_MAX_BATCH=8 (the command line wins).

Options for every command:
  --model NAME|FILE              resnet18 (default), resnet34, resnet50, resnet101, resnet152,
                                 or a .pth state_dict or an ImageNet .onnx file
  --threads N                    ONNX Runtime threads (default: the CPUs available)
  --preprocess fast|exact        fast (default): large images resized by libvips while decoding;
                                 exact: torchvision + Pillow reproduced to the float
  --offline                      never download weights
  -h, --help                     show this help
`;

/** A usage error: printed with the usage hint, exit code 2. */
class UsageError extends Error {}

const OPTIONS = {
  model: { type: 'string' },
  threads: { type: 'string' },
  preprocess: { type: 'string' },
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
  'min-score': { type: 'string' },
  xmp: { type: 'boolean' },
  'xmp-name': { type: 'string' },
  db: { type: 'string' },
  jobs: { type: 'string' },
  labels: { type: 'string' },
  format: { type: 'string' },
  'api-key': { type: 'string' },
  'api-key-file': { type: 'string' },
  'max-inflight-mb': { type: 'string' },
  'max-decode-ms': { type: 'string' },
  'startup-timeout-ms': { type: 'string' },
  'cors-origin': { type: 'string' },
  log: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Parsed = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** Fills options not given on the command line from RESNET_SERVE_<NAME> environment variables. */
function withEnvironment(values: Parsed, env: NodeJS.ProcessEnv): Parsed {
  const out: Record<string, unknown> = { ...values };
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if (name === 'help' || out[name] !== undefined) continue;
    const value = env[`RESNET_SERVE_${name.toUpperCase().replace(/-/g, '_')}`];
    if (value === undefined || value === '') continue;
    out[name] = spec.type === 'boolean' ? !['0', 'false', 'no'].includes(value.toLowerCase()) : value;
  }
  return out as Parsed;
}

function intOption(value: string | undefined, name: string, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** The model options every command shares, validated before any work starts. */
function modelOptions(values: Parsed): ModelOptions {
  const threads = intOption(values.threads, '--threads', undefined);
  if (threads === 0) throw new UsageError('--threads must be at least 1');
  const maxPixels = intOption(values['max-pixels'], '--max-pixels', undefined);
  if (maxPixels === 0) throw new UsageError('--max-pixels must be at least 1');
  const maxDecodeMs = intOption(values['max-decode-ms'], '--max-decode-ms', undefined);
  if (maxDecodeMs === 0) throw new UsageError('--max-decode-ms must be at least 1');
  const preprocess = values.preprocess ?? 'fast';
  if (preprocess !== 'fast' && preprocess !== 'exact') throw new UsageError(`--preprocess must be fast or exact, got ${JSON.stringify(preprocess)}`);
  return {
    model: values.model,
    threads,
    maxPixels,
    maxDecodeMs,
    preprocess,
    offline: values.offline || undefined,
    onDownloadProgress: downloadProgress('Downloading weights'),
  };
}

/** The API key: from --api-key-file (trailing newline trimmed), else --api-key or RESNET_SERVE_API_KEY. */
function readApiKey(values: Parsed): string | undefined {
  const file = values['api-key-file'];
  if (file === undefined) return values['api-key'];
  if (values['api-key'] !== undefined) throw new UsageError('give --api-key or --api-key-file, not both');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`cannot read --api-key-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function serveCommand(values: Parsed, model: ModelOptions): Promise<number> {
  const positive = (name: keyof Parsed, fallback?: number): number | undefined => {
    const v = intOption(values[name] as string | undefined, `--${name}`, fallback);
    if (v === 0) throw new UsageError(`--${name} must be at least 1`);
    return v;
  };
  const port = intOption(values.port ?? process.env.PORT, '--port', 8080) as number;
  if (port > 65535) throw new UsageError('--port must be at most 65535');
  const uploadMb = positive('max-upload-mb');
  const inflightMb = positive('max-inflight-mb');
  const waitUs = intOption(values['batch-wait-us'], '--batch-wait-us', undefined);
  const server = await startServer({
    host: values.host ?? process.env.HOST ?? '127.0.0.1',
    port,
    service: {
      ...model,
      workers: positive('workers'),
      batching: { maxBatch: positive('max-batch'), maxWaitMicros: waitUs, maxQueue: positive('max-queue') },
      startupTimeoutMs: positive('startup-timeout-ms'),
    },
    limits: { maxUploadBytes: uploadMb === undefined ? undefined : uploadMb * 1024 * 1024, maxInflightBytes: inflightMb === undefined ? undefined : inflightMb * 1024 * 1024, maxFiles: positive('max-files'), requestTimeoutMs: positive('timeout-ms'), headersTimeoutMs: positive('headers-timeout-ms'), bodyTimeoutMs: positive('body-timeout-ms') },
    gracePeriodMs: intOption(values['grace-period-ms'], '--grace-period-ms', undefined),
    access: { apiKey: readApiKey(values), corsOrigins: values['cors-origin']?.split(',').map((o) => o.trim()).filter(Boolean) },
    logger: values.log ? true : false,
  });
  const { info } = server.service;
  process.stderr.write(`resnet-serve: ${info.name} (${info.source}, sha256 ${info.sha256.slice(0, 12)}) ready at ${server.url} with ${info.threads} inference threads and ${server.service.workers} preprocessing workers\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.stderr.write(`resnet-serve: ${signal}, finishing requests in flight…\n`);
      server.close().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  // Every request has its answer; native work that outlives them (a decode on libuv's threads) must not hold the exit.
  setTimeout(() => process.exit(0), 200).unref();
  return 0;
}

async function classifyCommand(paths: string[], values: Parsed, model: ModelOptions): Promise<number> {
  if (paths.length === 0) throw new UsageError('classify needs at least one file or folder');
  const lang = (values.lang ?? 'en') as LabelLanguage;
  if (!['en', 'zh', 'both'].includes(lang)) throw new UsageError(`--lang must be en, zh or both, got ${JSON.stringify(values.lang)}`);
  const topK = intOption(values['top-k'], '--top-k', 3) as number;
  if (topK < 1) throw new UsageError('--top-k must be at least 1');
  const files = await expandPaths(paths);
  if (files.length === 0) {
    process.stderr.write('No image files found.\n');
    return 1;
  }
  const classifier = await ImageClassifier.create(model);
  if (topK > classifier.info.numClasses) throw new UsageError(`--top-k must be at most ${classifier.info.numClasses}`);
  let failed = 0;
  const batchSize = 8;
  try {
    for (let i = 0; i < files.length; i += batchSize) {
      const chunk = files.slice(i, i + batchSize);
      const readable = chunk.filter((f) => !('error' in f));
      const outcomes = await classifier.classifyBatch(readable.map((f) => f.path), { topK, lang });
      let next = 0;
      for (const f of chunk) {
        const outcome = 'error' in f ? { ok: false as const, error: new ResnetServeError('IO_ERROR', f.error) } : outcomes[next++];
        if (!outcome.ok) failed++;
        const text = values.json ? `${formatJsonLine(f.path, outcome)}\n` : formatOutcome(f.path, outcome);
        (outcome.ok || values.json ? process.stdout : process.stderr).write(text);
      }
    }
  } finally {
    await classifier.close();
  }
  if (failed && !values.json) process.stderr.write(`${failed} of ${files.length} files failed.\n`);
  return failed ? 1 : 0;
}

async function fetchModelCommand(options: ModelOptions): Promise<number> {
  const model = await loadModel(options);
  const { info } = model;
  await model.session.release();
  process.stdout.write(`${info.name} ready: ${info.path}\nsha256 ${info.sha256}\nonnx   ${info.onnxPath}\n`);
  return 0;
}

async function infoCommand(options: ModelOptions): Promise<number> {
  const cacheDir = defaultCacheDir();
  const lines: [string, string][] = [];
  const spec = options.model ?? 'resnet18';
  const official = Object.hasOwn(OFFICIAL_CHECKPOINTS, spec);
  if (official && !findCachedCheckpoint(OFFICIAL_CHECKPOINTS[spec], cacheDir)) {
    lines.push(['model', spec], ['source', `${weightsBaseUrl()}/${OFFICIAL_CHECKPOINTS[spec]}`], ['weights', 'not downloaded yet (run: resnet-serve fetch-model)']);
  } else {
    const model = await loadModel({ ...options, offline: true });
    const { info } = model;
    await model.session.release();
    lines.push(
      ['model', info.name],
      ['source', info.source === 'torchvision' ? `torchvision (${weightsBaseUrl()}/${OFFICIAL_CHECKPOINTS[spec]})` : info.source],
      ['weights', info.path],
      ['sha256', info.sha256],
      ['onnx', info.onnxPath ?? '-'],
      ['classes', String(info.numClasses)],
      ['input', `${info.inputSize}x${info.inputSize}`],
      ['threads', String(info.threads)],
    );
  }
  lines.push(
    ['cache', cacheDir],
    ['torch hub', torchHubCheckpointDir()],
    ['onnxruntime', ORT_VERSION],
    ['sharp', `${sharp.versions.sharp} (libvips ${sharp.versions.vips})`],
    ['node', process.versions.node],
  );
  const width = Math.max(...lines.map(([k]) => k.length));
  process.stdout.write(lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n');
  return 0;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`resnet-serve: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const values = withEnvironment(parsed.values, process.env);
  const { positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === 'help' || command === undefined) {
    (command === undefined && !values.help ? process.stderr : process.stdout).write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  try {
    const model = modelOptions(values);
    switch (command) {
      case 'classify':
        return await classifyCommand(rest, values, model);
      case 'serve':
        return await serveCommand(values, model);
      case 'tag': {
        if (rest.length === 0) throw new UsageError('tag needs at least one folder');
        const minScore = values['min-score'] === undefined ? 0.1 : Number(values['min-score']);
        if (!(minScore >= 0 && minScore <= 1)) throw new UsageError(`--min-score must be a probability from 0 to 1, got ${JSON.stringify(values['min-score'])}`);
        const lang = (values.lang ?? 'both') as LabelLanguage;
        if (!['en', 'zh', 'both'].includes(lang)) throw new UsageError(`--lang must be en, zh or both, got ${JSON.stringify(values.lang)}`);
        const naming = values['xmp-name'] ?? 'append';
        if (naming !== 'append' && naming !== 'replace') throw new UsageError('--xmp-name must be append or replace');
        const jobs = intOption(values.jobs, '--jobs', undefined);
        if (jobs === 0) throw new UsageError('--jobs must be at least 1');
        return await tagCommand({
          roots: rest,
          db: values.db,
          topK: intOption(values['top-k'], '--top-k', 5) as number,
          minScore,
          lang,
          xmp: values.xmp ? naming : false,
          labels: values.labels,
          jobs,
          model,
        });
      }
      case 'search':
        return searchCommand(rest, [], values.db ?? join('.', '.resnet-serve', 'tags.sqlite'));
      case 'export':
        return exportCommand(values.format ?? 'json', [], values.db ?? join('.', '.resnet-serve', 'tags.sqlite'));
      case 'fetch-model':
        return await fetchModelCommand(model);
      case 'info':
        return await infoCommand(model);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err instanceof ResnetServeError && err.code === 'INVALID_ARGUMENT')) {
      process.stderr.write(`resnet-serve: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ResnetServeError) {
      process.stderr.write(`resnet-serve: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

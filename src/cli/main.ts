/**
 * The `resnet-serve` command: `classify`, `train`, `embed`, `serve`, `tag`, `search`, `dupes`, `export`, `fetch-model`, `info`.
 * Exit codes: 0 success, 1 a file or the model failed, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ResnetServeError } from '../errors.js';
import { OFFICIAL_CHECKPOINTS, defaultCacheDir, findCachedCheckpoint, torchHubCheckpointDir, weightsBaseUrl } from '../model/weights.js';
import type { ModelOptions } from '../types.js';
import { OPTIONS, UsageError, intOption, modelOptions, withEnvironment, type Parsed } from './args.js';

const USAGE = `Usage: resnet-serve <command> [options]

Commands:
  classify <files or folders…>   classify images (folders are walked recursively)
      --top-k N                  how many labels per image (default 3)
      --lang en|zh|both          label language (default en)
      --json                     one JSON object per line instead of a table
      --head FILE                answer with your own classes (a head from train)
      --reject on|off            with a head: answer "unknown" for photos unlike its training photos (default on)
      --explain DIR              also write where the model looked: DIR/<file>.png (the 224 crop it saw)
                                 and DIR/<file>.photo.png (the photo), heatmaps of the top answer
  train <folder> --out FILE      teach your own classes: one subfolder of photos per class
      --cv N | --holdout F       how accuracy is measured (default --cv 5)
      --reject on|off            learn "unknown" (default on)
      --reject-rate F            share of photos like the training ones allowed to be "unknown" (default 0.02)
      --name NAME                the head's name (default: the folder's name)
  embed <files or folders…>      the embedding of each image (the input of the model's final layer)
      --json                     {file, dim, embedding} per line
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
      --head NAME=FILE           answer with a trained head too (?head=NAME, /v2/models/NAME); repeatable
      --library DIR              show a tagged photo library in the page (read-only; --db FILE for its index)
  tag <folders…>                 tag a photo library: SQLite index, optional XMP sidecars; a second run
                                 handles only what changed (new, edited, moved and deleted photos)
      --top-k N                  labels per photo (default 5, at most 50)
      --min-score P              drop labels and categories below this probability (default 0.1)
      --lang en|zh|both          keyword language (default both)
      --xmp                      write IMG_1.jpg.xmp sidecars (--xmp-name replace: IMG_1.xmp)
      --db PATH                  the index (default <first folder>/.resnet-serve/tags.sqlite)
      --jobs N                   images decoded in parallel (default: half the CPUs)
      --labels FILE              your own category mapping (format of data/categories.json)
      --retag                    run the model on every photo again
  search <words…>                photos matching every word (English or Chinese, plurals and
                                 everyday words too: car, beach, 海滩), best first
      --like PHOTO               the photos most like PHOTO instead
      --limit N                  how many (default 20)
      --library DIR | --db PATH  which index (default: the current folder's)
      --json                     one JSON object per line
  dupes                          groups of exact and near duplicates (resized, recompressed,
                                 slightly cropped, rotated), largest first; never deletes
      --threshold F              how alike near duplicates must be (default 0.93)
  export --format csv|json|jsonl the index, to stdout
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
  --precision fp32|int8          fp32 (default): PyTorch's numbers; int8: about twice as fast,
                                 same top-1 on ~98% of photos (quantised once, then cached)
  --calibrate DIR                with int8: photos to calibrate on (default: a built-in set)
  --offline                      never download weights
  -h, --help                     show this help
`;

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

/** `--head name=file.json` options (repeatable) as name → path. */
function headFiles(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values ?? []) {
    const eq = value.indexOf('=');
    if (eq <= 0 || eq === value.length - 1) throw new UsageError(`--head takes NAME=FILE (e.g. --head defects=defects.json), got ${JSON.stringify(value)}`);
    const name = value.slice(0, eq).trim();
    if (out[name]) throw new UsageError(`--head ${name} is given twice`);
    out[name] = value.slice(eq + 1);
  }
  return out;
}

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

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
  const libraryIndex = values.library !== undefined || values.db !== undefined ? (await import('./library.js')).indexForReading(values, model.cacheDir) : undefined;
  const { startServer } = await import('../server/server.js');
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
    heads: headFiles(values.head),
    libraryIndex,
    access: { apiKey: readApiKey(values), corsOrigins: values['cors-origin']?.split(',').map((o) => o.trim()).filter(Boolean) },
    logger: values.log ? true : false,
  });
  const { info } = server.service;
  process.stderr.write(`resnet-serve: ${info.name} (${info.source}, ${info.precision}, sha256 ${info.sha256.slice(0, 12)}) ready at ${server.url} with ${plural(info.threads, 'inference thread')} and ${plural(server.service.workers, 'preprocessing worker')}\n`);
  if (values.library !== undefined || values.db !== undefined) process.stderr.write(`resnet-serve: the photo library is at ${server.url}/#library\n`);
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

async function fetchModelCommand(options: ModelOptions): Promise<number> {
  const { loadModel } = await import('../model/load-model.js');
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
    const { loadModel } = await import('../model/load-model.js');
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
      ['precision', info.precision],
    );
  }
  const [{ default: sharp }, { ORT_VERSION }] = await Promise.all([import('sharp'), import('../model/session.js')]);
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
    process.stderr.write(`resnet-serve: ${(err as Error).message.split('. To specify a positional')[0]}\nRun 'resnet-serve --help' for the commands and their options.\n`);
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
      // Each command loads only its own modules: the server's HTTP stack, say, is not read to classify one photo.
      case 'classify':
        return await (await import('./classify.js')).classifyCommand(rest, values, model);
      case 'embed':
        return await (await import('./classify.js')).embedCommand(rest, values, model);
      case 'train':
        return await (await import('./train.js')).trainCommand(rest, values, model);
      case 'serve':
        return await serveCommand(values, model);
      case 'tag':
        return await (await import('./library.js')).tagCommand(rest, values, model);
      case 'search':
        return await (await import('./library.js')).searchCommand(rest, values, model);
      case 'dupes':
        return await (await import('./library.js')).dupesCommand(values, model);
      case 'export':
        return await (await import('./library.js')).exportCommand(values, model);
      case 'fetch-model':
        return await fetchModelCommand(model);
      case 'info':
        return await infoCommand(model);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      // The message stays on screen: the full usage is one --help away.
      process.stderr.write(`resnet-serve: ${err.message}\nRun 'resnet-serve --help' for the commands and their options.\n`);
      return 2;
    }
    if (err instanceof ResnetServeError && err.code === 'INVALID_ARGUMENT') {
      process.stderr.write(`resnet-serve: ${err.message}\n`);
      return 2;
    }
    if (err instanceof ResnetServeError) {
      process.stderr.write(`resnet-serve: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/**
 * The `resnet-serve` command: `classify`, `train`, `embed`, `serve`, `tag`, `search`, `dupes`, `export`, `fetch-model`, `info`.
 * Exit codes: 0 success, 1 a file or the model failed, 2 usage error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_QUEUE, MAX_BATCH } from '../classify/batcher.js';
import { DEFAULT_LIMITS, MAX_TIMER_MS } from '../server/options.js';
import { ResnetServeError } from '../errors.js';
import { damagedIndexError, indexOpened } from '../library/damaged-index.js';
import { plural } from '../plural.js';
import { endProgressLine } from './progress.js';
import { stoppableWhileLoading, stoppedBeforeReady } from './stop-while-loading.js';
import { OFFICIAL_CHECKPOINTS, defaultCacheDir, findCachedCheckpoint, torchHubCheckpointDir, weightsBaseUrl } from '../model/weights.js';
import type { ModelOptions } from '../types.js';
import { OPTIONS, UsageError, checkDefaultBackbone, describePrecision, environmentName, headOptions, intOption, modelOptions, withEnvironment, type Parsed } from './args.js';
import { COMMANDS, USAGE, optionsOf, similarCommands, similarOptions, unknownVariables, usageOf } from './usage.js';


/** The API key: from --api-key-file (trailing newline trimmed), else --api-key or RESNET_SERVE_API_KEY. */
/**
 * The API key: from --api-key-file (read here) or --api-key, each also from
 * its environment variable; given both ways, the command line wins over the
 * environment. Keys under 8 characters are refused.
 */
function readApiKey(values: Parsed, commandLine: Parsed): string | undefined {
  let key = values['api-key'];
  let file = values['api-key-file'];
  if (key !== undefined && file !== undefined) {
    const keyGiven = commandLine['api-key'] !== undefined;
    if (keyGiven === (commandLine['api-key-file'] !== undefined)) throw new UsageError('give --api-key or --api-key-file, not both');
    if (keyGiven) file = undefined;
    else key = undefined;
  }
  if (file !== undefined) {
    try {
      key = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`--api-key-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (key.length < 8) throw new UsageError(`--api-key-file ${file}: the key in it must be at least 8 characters`);
  } else if (key !== undefined && key.length < 8) throw new UsageError('--api-key must be at least 8 characters');
  return key;
}

/** Upper bounds of serve's counts: past them a setting is a mistake (a batch of 100,000 images would need 60 GB), not a choice. */
const SERVE_MAXIMUM: Partial<Record<keyof Parsed, { max: number; why: string }>> = {
  'max-batch': { max: MAX_BATCH, why: 'images per inference batch' },
  'max-files': { max: 1024, why: 'files per request' },
  'max-queue': { max: 100_000, why: 'images in progress' },
  'keep-alive-ms': { max: 3_600_000, why: 'an hour of idleness per connection' },
  'timeout-ms': { max: MAX_TIMER_MS, why: "Node's longest timer, about 24.8 days" },
  'headers-timeout-ms': { max: MAX_TIMER_MS, why: "Node's longest timer, about 24.8 days" },
  'body-timeout-ms': { max: MAX_TIMER_MS, why: "Node's longest timer, about 24.8 days" },
  workers: { max: 4 * availableParallelism(), why: 'preprocessing threads: 4 per CPU' },
};

/** Refuses files or words given to a command that takes none, rather than ignoring them. */
function noPositionals(command: string, args: string[]): void {
  if (!args.length) return;
  const library = command === 'dupes' || command === 'export' ? `; the library is given with --library ${args[0]} (or --db FILE)` : '';
  throw new UsageError(`${command} takes no files or words, got ${args.map((a) => JSON.stringify(a)).join(' ')}${library}`);
}

async function serveCommand(args: string[], values: Parsed, commandLine: Parsed, model: ModelOptions): Promise<number> {
  noPositionals('serve', args);
  const positive = (name: keyof Parsed, fallback?: number): number | undefined => {
    const v = intOption(values[name] as string | undefined, `--${name}`, fallback);
    if (v === 0) throw new UsageError(`--${name} must be at least 1`);
    const bound = SERVE_MAXIMUM[name];
    if (v !== undefined && bound && v > bound.max) throw new UsageError(`--${name} is at most ${bound.max} (${bound.why}), got ${v}`);
    return v;
  };
  const port = intOption(values.port ?? process.env.PORT, '--port', 8080) as number;
  if (port > 65535) throw new UsageError('--port must be at most 65535');
  const uploadMb = positive('max-upload-mb');
  const inflightMb = positive('max-inflight-mb');
  const waitUs = intOption(values['batch-wait-us'], '--batch-wait-us', undefined);
  const maxFiles = positive('max-files');
  const maxQueue = positive('max-queue');
  // A request's images enter the queue together: one with more than the queue holds would be told "busy, retry" forever.
  if ((maxQueue ?? DEFAULT_MAX_QUEUE) < (maxFiles ?? DEFAULT_LIMITS.maxFiles)) {
    throw new UsageError(`--max-queue (${maxQueue ?? DEFAULT_MAX_QUEUE}) is below --max-files (${maxFiles ?? DEFAULT_LIMITS.maxFiles}): a request of that many images could never be taken; lower --max-files to at most --max-queue, or raise --max-queue`);
  }
  const headersTimeout = positive('headers-timeout-ms');
  const bodyTimeout = positive('body-timeout-ms');
  if (headersTimeout !== undefined && headersTimeout > (bodyTimeout ?? DEFAULT_LIMITS.bodyTimeoutMs)) {
    throw new UsageError(`--headers-timeout-ms (${headersTimeout}) is above --body-timeout-ms (${bodyTimeout ?? DEFAULT_LIMITS.bodyTimeoutMs}): the headers are part of the request; lower it, or raise --body-timeout-ms`);
  }
  const grace = intOption(values['grace-period-ms'], '--grace-period-ms', undefined);
  if (grace !== undefined && grace > MAX_TIMER_MS) throw new UsageError(`--grace-period-ms is at most ${MAX_TIMER_MS} (Node's longest timer, about 24.8 days), got ${grace}`);
  const libraryIndex = values.library !== undefined || values.db !== undefined ? (await import('./library-index.js')).indexForReading(values, model.cacheDir) : undefined;
  if (libraryIndex !== undefined) model = (await import('./library-index.js')).modelForLibrary(libraryIndex, model, values);
  const heads = headOptions(values.head);
  if (model.model === undefined && Object.keys(heads).length) {
    // A head of another model says so before the official resnet18 is loaded (or downloaded) for nothing.
    const { Head } = await import('../heads/head.js');
    for (const file of Object.values(heads)) {
      const head = await Head.load(file).catch(() => null);
      if (head) checkDefaultBackbone(head, file);
    }
  }
  const apiKey = readApiKey(values, commandLine);
  const keyFor = values['api-key-for'];
  if (keyFor !== undefined && keyFor !== 'all' && keyFor !== 'changes') throw new UsageError(`--api-key-for must be all or changes, got ${JSON.stringify(keyFor)}`);
  if (keyFor !== undefined && apiKey === undefined) throw new UsageError('--api-key-for goes with an API key (--api-key-file FILE or RESNET_SERVE_API_KEY)');
  const { networkUrls, startServer } = await import('../server/server.js');
  const host = values.host ?? process.env.HOST ?? '127.0.0.1';
  const server = await stoppableWhileLoading(() => startServer({
    host,
    port,
    service: {
      ...model,
      workers: positive('workers'),
      batching: { maxBatch: positive('max-batch'), maxWaitMicros: waitUs, maxQueue },
    },
    limits: { maxUploadBytes: uploadMb === undefined ? undefined : uploadMb * 1024 * 1024, maxInflightBytes: inflightMb === undefined ? undefined : inflightMb * 1024 * 1024, maxFiles, requestTimeoutMs: positive('timeout-ms'), headersTimeoutMs: headersTimeout, bodyTimeoutMs: bodyTimeout, keepAliveTimeoutMs: positive('keep-alive-ms') },
    gracePeriodMs: grace,
    heads,
    libraryIndex,
    access: { apiKey, keyFor, corsOrigins: values['cors-origin']?.split(',').map((o) => o.trim()).filter(Boolean) },
    logger: values.log ? true : false,
  }), stoppedBeforeReady);
  // Listening for the stop before anything is printed: a Ctrl-C the moment "ready at" shows must drain too.
  const stopped = new Promise<{ pastGraceMs: number }>((resolve) => {
    let stopping = false;
    // The first signal drains. Another SIGTERM (a supervisor repeating itself) changes nothing; a second
    // Ctrl-C is a person who will not wait: the process stops at once.
    const stop = (signal: string): void => {
      if (!stopping) {
        stopping = true;
        process.stderr.write(`resnet-serve: ${signal}, finishing requests in flight…\n`);
        server.close().then(resolve, () => resolve({ pastGraceMs: 0 }));
      } else if (signal === 'SIGINT') {
        process.stderr.write('resnet-serve: SIGINT again, stopping now without finishing requests\n');
        // The signal's own default action: no teardown of the model's threads mid-run.
        process.removeAllListeners('SIGINT');
        process.kill(process.pid, 'SIGINT');
      } else process.stderr.write(`resnet-serve: ${signal} again; still finishing requests in flight (SIGINT twice stops at once)\n`);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  const { info } = server.service;
  const limits = server.app.limits;
  for (const note of server.notes) process.stderr.write(`resnet-serve: ${note}\n`);
  process.stderr.write(`resnet-serve: ${info.name} (${info.source}, ${describePrecision(info.precision, info.calibration?.folder)}, sha256 ${info.sha256.slice(0, 12)}) ready at ${server.url} with ${plural(info.threads, 'inference thread')} and ${plural(server.service.workers, 'preprocessing worker')}\n`);
  const elsewhere = networkUrls(host, Number(new URL(server.url).port));
  if (elsewhere.length) process.stderr.write(`resnet-serve: from other devices on this network: ${elsewhere.join(', ')}\n`);
  process.stderr.write(
    `resnet-serve: limits: ${limits.maxUploadBytes / 1048576} MB and ${limits.maxFiles} files per request, ${limits.requestTimeoutMs} ms per request, batches of ${server.service.batcher.maxBatch}, queue ${server.service.batcher.maxQueue}; cache ${model.cacheDir ?? defaultCacheDir()}\n`,
  );
  if (values.library !== undefined || values.db !== undefined) process.stderr.write(`resnet-serve: the photo library is at ${server.url}/#library\n`);
  if (apiKey !== undefined && keyFor === 'changes') process.stderr.write('resnet-serve: an API key is required (Authorization: Bearer …) to make, teach, train or delete heads; recognising photos is open to all\n');
  else if (apiKey !== undefined) process.stderr.write('resnet-serve: an API key is required (Authorization: Bearer …) on every route but the health checks and the page\n');
  const { pastGraceMs } = await stopped;
  if (pastGraceMs > 0) process.stderr.write(`resnet-serve: waited ${pastGraceMs} ms past the grace period for the batch in the model (a batch cannot be stopped)\n`);
  process.stderr.write('resnet-serve: every request answered; stopped\n');
  // Every request has its answer; native work that outlives them (a decode on libuv's threads) must not hold the exit.
  setTimeout(() => process.exit(0), 200).unref();
  return 0;
}

async function fetchModelCommand(options: ModelOptions): Promise<number> {
  const { loadModel } = await import('../model/load-model.js');
  const model = await loadModel(options, { probeTimeoutMs: options.startupTimeoutMs });
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
    const model = await loadModel({ ...options, offline: true }, { probeTimeoutMs: options.startupTimeoutMs });
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
      // serve gives part of the CPUs to its decoding workers and says its own count when it starts.
      ['threads', `${info.threads} (classify, embed, tag, train; serve says its own at start)`],
      ['precision', describePrecision(info.precision, info.calibration?.folder)],
    );
  }
  const [{ default: sharp }, { ORT_VERSION }] = await Promise.all([import('sharp'), import('../model/ort-version.js')]);
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

/** parseArgs' message in the user's terms, with the options a mistyped one was probably meant to be. */
function parseErrorMessage(message: string, argv: string[]): string {
  const missing = /^Option '(--?[^' ]+)[^']*' argument (missing|is ambiguous)/.exec(message);
  if (missing) {
    // "--top-k -1" reads to the parser as an option after --top-k; no option takes a negative number.
    const next = argv[argv.indexOf(missing[1]) + 1];
    if (next !== undefined && /^-\d/.test(next)) return `${missing[1]} ${next}: no option takes a negative number`;
    return `${missing[1]} needs a value${missing[2] === 'is ambiguous' ? ` (the next argument is an option; for a value that starts with -, write ${missing[1]}=VALUE)` : ''}`;
  }
  const first = message.split('. To specify a positional')[0];
  const unknown = /^Unknown option '(--?[^']+)'/.exec(first)?.[1];
  if (!unknown) return first;
  const said = `unknown option ${unknown}`;
  // A photo whose name starts with a dash: say how to give it.
  const file = argv.find((a) => /^-[^-]./.test(a) && existsSync(a)) ?? argv.find((a) => a.startsWith(unknown) && existsSync(a));
  if (file) return `${said} (for the file ${file}, write ./${file}, or put -- before the files)`;
  const like = similarOptions(unknown, argv.find((a) => !a.startsWith('-')));
  return `${said}${like.length ? ` (did you mean ${like.join(' or ')}?)` : ''}`;
}

/** For a message about `--name` that the command line did not set: the environment variable that did. */
function settingSource(message: string, commandLine: Record<string, unknown>): string {
  // "calibrate: …" is the engine's word for --calibrate.
  const option = /^(?:--([a-z][a-z0-9-]*)|(calibrate):)/.exec(message)?.slice(1).find((o) => o !== undefined);
  if (option === undefined || commandLine[option] !== undefined) return '';
  const fallbacks = [environmentName(option), ...(option === 'port' ? ['PORT'] : option === 'host' ? ['HOST'] : [])];
  const used = fallbacks.find((name) => process.env[name] !== undefined && process.env[name] !== '');
  return used ? ` (set by the environment variable ${used})` : '';
}

/** Where to read more after a usage error: the command's own help when the command is known. */
function helpPointer(command: string | undefined): string {
  return command !== undefined && COMMANDS.includes(command) ? `Run 'resnet-serve ${command} --help' for its options.\n` : `Run 'resnet-serve --help' for the commands and their options.\n`;
}

/** This package's version, from its package.json. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`resnet-serve: ${parseErrorMessage((err as Error).message, argv)}\n${helpPointer(argv.find((a) => COMMANDS.includes(a)))}`);
    return 2;
  }
  if (parsed.values.version) {
    process.stdout.write(`resnet-serve ${packageVersion()}\n`);
    return 0;
  }
  let values: Parsed;
  try {
    values = withEnvironment(parsed.values, process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`resnet-serve: ${err.message}\n`);
    return 2;
  }
  for (const warning of unknownVariables(process.env)) process.stderr.write(`resnet-serve: ${warning}\n`);
  const { positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === 'help' || command === undefined) {
    if (command === undefined && !values.help) {
      process.stderr.write(USAGE);
      return 2;
    }
    // `resnet-serve classify --help` and `resnet-serve help classify`: that command's options.
    process.stdout.write(usageOf(command === 'help' ? rest[0] : command));
    return 0;
  }
  try {
    if (COMMANDS.includes(command)) {
      // An option of another command is a mistake to say, not a setting to ignore (classify --port 5).
      const takes = new Set([...optionsOf(command), 'help', 'version']);
      for (const option of Object.keys(parsed.values).filter((o) => !takes.has(o))) {
        const owners = COMMANDS.filter((c) => optionsOf(c).includes(option));
        throw new UsageError(`${command} does not take --${option}${owners.length ? ` (an option of ${owners.join(', ')})` : ''}`);
      }
    }
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
        return await serveCommand(rest, values, parsed.values, model);
      case 'tag':
        return await (await import('./library.js')).tagCommand(rest, values, model);
      case 'search':
        return await (await import('./library.js')).searchCommand(rest, values, model);
      case 'dupes':
        noPositionals(command, rest);
        return await (await import('./library.js')).dupesCommand(values, model);
      case 'export':
        noPositionals(command, rest);
        return await (await import('./library.js')).exportCommand(values, model);
      case 'fetch-model':
        noPositionals(command, rest);
        return await fetchModelCommand(model);
      case 'info':
        noPositionals(command, rest);
        return await infoCommand(model);
      default: {
        const like = similarCommands(command);
        throw new UsageError(`unknown command ${JSON.stringify(command)}${like.length ? ` (did you mean ${like.join(' or ')}?)` : ''}`);
      }
    }
  } catch (caught) {
    // Under a progress line left open (a build that failed midway), not at its end.
    endProgressLine();
    const err = damagedIndexError(caught, indexOpened()) ?? caught;
    if (err instanceof UsageError) {
      // The message stays on screen: the full usage is one --help away.
      process.stderr.write(`resnet-serve: ${err.message}${settingSource(err.message, parsed.values)}\n${helpPointer(command)}`);
      return 2;
    }
    if (err instanceof ResnetServeError && (err.code === 'INVALID_ARGUMENT' || err.code === 'QUERY_TOO_SHORT' || err.code === 'QUERY_NO_WORDS')) {
      process.stderr.write(`resnet-serve: ${err.message}${settingSource(err.message, parsed.values)}\n`);
      return 2;
    }
    // search exits as grep does: 1 is "nothing matched", so a failure (no index, a damaged one, an unreadable photo) is 2.
    const failed = command === 'search' ? 2 : 1;
    if (err instanceof ResnetServeError) {
      // With its code, as a failed file's line has it (scripts and searches key on the code).
      process.stderr.write(`resnet-serve: error ${err.code}: ${err.message}\n`);
      return failed;
    }
    // A system error (a file, a folder, the disk) is the user's to fix: one line. Anything else is a bug: its stack trace.
    if (typeof (err as NodeJS.ErrnoException)?.code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string') {
      process.stderr.write(`resnet-serve: ${(err as Error).message}\n`);
      return failed;
    }
    throw err;
  }
}

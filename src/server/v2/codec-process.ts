/**
 * Large v2 JSON requests are parsed in a child process, one at a time, so
 * that megabytes of JSON numbers never block the event loop that answers
 * health checks, and so that a body built to exhaust memory cannot take the
 * server down. Parsing multiplies a body's size many times over (a 16 MB
 * body of empty arrays needs over 200 MB of heap). A worker thread's heap
 * limit is not enough: past it V8 may abort the whole process instead of
 * ending the worker (nodejs/node#47224; here a 16 MB body did, through V8's
 * baseline compiler). A child with its own heap limit dies alone; its
 * request gets 413 and the next body starts a new child. The child exits
 * after a second without work, giving its memory back.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ResnetServeError } from '../../errors.js';
import { CODEC_CHILD_FLAG, type DecodeReply, type DecodeTask } from './codec-child.js';

const CHILD = fileURLToPath(new URL('./codec-child.js', import.meta.url));

/** How a codec process is run. */
export interface CodecProcessOptions {
  /** The child's JavaScript heap limit in MB. Default 192. */
  heapMb?: number;
  /** The child exits after this long without work, in ms. Default 1000. */
  idleMs?: number;
}

/** Why the child ended while parsing: memory (413) or anything else (500). */
function childEnded(code: number | null, signal: NodeJS.Signals | null, stderr: string): ResnetServeError {
  if (/heap out of memory|Allocation failed/.test(stderr) || signal === 'SIGKILL') {
    return new ResnetServeError('PAYLOAD_TOO_LARGE', 'The inference request is too large to parse; send tensors with the binary data extension');
  }
  const last = stderr.trim().split('\n').pop();
  return new ResnetServeError('INTERNAL', `The JSON parser process ended (${signal ?? `exit code ${code}`})${last ? `: ${last}` : ''}`);
}

/** A child process that parses v2 JSON bodies, started when needed. */
export class CodecProcess {
  private child: ChildProcess | null = null;
  private stderr = '';
  private queue: Promise<unknown> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly heapMb: number;
  private readonly idleMs: number;

  constructor(options: CodecProcessOptions = {}) {
    this.heapMb = options.heapMb ?? 192;
    this.idleMs = options.idleMs ?? 1000;
  }

  /** Parses and checks `task` after the ones before it; rejects with `signal`'s reason when it aborts (the child is then ended). */
  decode(task: DecodeTask, signal?: AbortSignal): Promise<DecodeReply> {
    const result = this.queue.then(() => this.decodeNow(task, signal));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Whether a child process is running now. */
  get running(): boolean {
    return this.child !== null;
  }

  /** Ends the child, if any; later calls to `decode` are refused. */
  close(): void {
    this.closed = true;
    this.stop();
  }

  private start(): ChildProcess {
    const child = fork(CHILD, [CODEC_CHILD_FLAG], { execArgv: [`--max-old-space-size=${this.heapMb}`], serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
    child.on('error', () => undefined);
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    return child;
  }

  /** Ends the child: at once (`kill`), or by closing its channel when it is idle. */
  private stop(kill = true): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (kill) this.child?.kill('SIGKILL');
    else if (this.child?.connected) this.child.disconnect();
    this.child = null;
  }

  private decodeNow(task: DecodeTask, signal?: AbortSignal): Promise<DecodeReply> {
    if (this.closed) return Promise.reject(new ResnetServeError('NOT_READY', 'The server is shutting down'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const child = (this.child ??= this.start());
    child.ref();
    child.channel?.ref();
    return new Promise<DecodeReply>((resolve, reject) => {
      const settle = (): void => {
        child.off('message', onMessage);
        child.off('exit', onExit);
        child.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
        child.unref();
        child.channel?.unref();
        if (this.child === child && !this.closed) this.idleTimer = setTimeout(() => this.stop(false), this.idleMs).unref();
      };
      const onMessage = (reply: DecodeReply): void => {
        settle();
        resolve(reply);
      };
      const onExit = (code: number | null, exitSignal: NodeJS.Signals | null): void => {
        settle();
        reject(this.closed ? new ResnetServeError('NOT_READY', 'The server is shutting down') : childEnded(code, exitSignal, this.stderr));
      };
      const onError = (err: Error): void => {
        // The child could not be started or reached (no process slots, no memory): said at once, not at the deadline.
        settle();
        this.stop();
        reject(new ResnetServeError('INTERNAL', `The JSON parser process could not run: ${err.message}`));
      };
      const onAbort = (): void => {
        settle();
        this.stop();
        reject(signal?.reason);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
      child.send(task, (err) => {
        if (err && this.child === child) this.stop();
      });
    });
  }
}

/**
 * A model's one-time builds run in a child process: a checkpoint converted
 * to ONNX, a user's graph edited, int8 quantisation with its calibration,
 * and ONNX Runtime's optimised copy. Each holds the weights two or three
 * times over and runs calibration batches, and glibc keeps the memory a
 * process once used: a server that built its model on start (every new pod
 * with an empty cache) was at 322 MB idle for fp32 and 340 MB for int8,
 * against 181 and 159 MB once started from the cache. A child hands all of
 * it back when it exits. Its result comes back over the IPC channel, its
 * errors with their codes, its calibration progress as it goes.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ResnetServeError, type ErrorCode } from '../errors.js';

/** The builds a child process runs (`build-child.ts`). */
export type BuildStep = 'checkpoint' | 'user-onnx' | 'int8' | 'optimise';

const CHILD = fileURLToPath(new URL('./build-child.js', import.meta.url));
const IN_CHILD = 'RESNET_SERVE_BUILD_PROCESS';

/** Whether this process is a build child, where builds run in place. */
export function inBuildProcess(): boolean {
  return process.env[IN_CHILD] === '1';
}

/** An error as it crosses the IPC channel. */
export interface SentError {
  message: string;
  code?: string;
  resnet?: boolean;
  path?: string;
  syscall?: string;
  errno?: number;
  name?: string;
  cause?: { message: string; code?: string; path?: string };
}

/** `err` reduced to what `receivedError` needs to make it again. */
export function sentError(err: unknown): SentError {
  const e = err as Error & NodeJS.ErrnoException;
  const cause = e?.cause as (Error & NodeJS.ErrnoException) | undefined;
  return {
    message: String(e?.message ?? err),
    code: e?.code,
    resnet: err instanceof ResnetServeError,
    path: e?.path,
    syscall: e?.syscall,
    errno: e?.errno,
    name: e?.name,
    ...(cause instanceof Error ? { cause: { message: cause.message, code: cause.code, path: cause.path } } : {}),
  };
}

/** The error a child sent, as the caller would have seen it thrown here. */
export function receivedError(sent: SentError): Error {
  const cause = sent.cause ? Object.assign(new Error(sent.cause.message), { code: sent.cause.code, path: sent.cause.path }) : undefined;
  if (sent.resnet) return new ResnetServeError(sent.code as ErrorCode, sent.message, cause ? { cause } : undefined);
  return Object.assign(new Error(sent.message, cause ? { cause } : undefined), { code: sent.code, path: sent.path, syscall: sent.syscall, errno: sent.errno, name: sent.name ?? 'Error' });
}

/**
 * Runs build `step` with `args` in a child process and returns its result;
 * `onProgress` hears the progress it reports. Throws what the build threw
 * (code and cause kept), or, naming `label`, why the child ended without an
 * answer (`childEnded`).
 */
export function buildInChild<T>(step: BuildStep, args: unknown[], label: string, onProgress?: (progress: never) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = fork(CHILD, [], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, [IN_CHILD]: '1', ORT_DISABLE_TELEMETRY: '1' } });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    let settled = false;
    // Ended with this process, removing what it was writing (and if this process dies by a signal instead,
    // the child sees its channel close and stops by itself).
    const stop = (): void => void child.kill('SIGTERM');
    process.once('exit', stop);
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      process.off('exit', stop);
      fn();
    };
    child.on('message', (m: { progress?: never; result?: T; error?: SentError }) => {
      if (m.progress !== undefined) onProgress?.(m.progress);
      else if (m.error) settle(() => reject(receivedError(m.error!)));
      else if ('result' in m) settle(() => resolve(m.result as T));
    });
    child.on('error', (err) => settle(() => reject(new ResnetServeError('INTERNAL', `${label} could not be prepared: the build process did not start (${err.message})`, { cause: err }))));
    child.on('close', (code, signal) => settle(() => reject(childEnded(label, code, signal, stderr))));
    child.send({ step, args });
  });
}

/**
 * Why a build process ended without an answer: stopped from outside (the
 * kernel's out-of-memory killer sends SIGKILL; a Ctrl-C or a supervisor
 * SIGINT or SIGTERM), which says nothing about the model, or crashed on it.
 */
export function childEnded(label: string, code: number | null, signal: NodeJS.Signals | null, stderr: string): ResnetServeError {
  const reason = stderr.trim().split('\n').pop();
  if (signal === 'SIGKILL') {
    return new ResnetServeError('INTERNAL', `${label} could not be prepared: the process building it was killed (SIGKILL: out of memory, perhaps); nothing was cached, so the next start tries again`);
  }
  if (signal === 'SIGINT' || signal === 'SIGTERM' || code === 130 || code === 143) {
    return new ResnetServeError('INTERNAL', `${label} could not be prepared: the process building it was stopped (${signal ?? (code === 130 ? 'SIGINT' : 'SIGTERM')}); nothing was cached`);
  }
  return new ResnetServeError('MODEL_INVALID', `${label} could not be prepared: the process building it ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${reason ? ` (${reason})` : ''}`);
}

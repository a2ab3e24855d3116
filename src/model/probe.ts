/**
 * A user's ONNX file is opened and run once in a child process before this
 * process loads it: a graph that never finishes (a `Loop` of 10^15 steps) or
 * that crashes ONNX Runtime would otherwise hang or kill the server, and a
 * thread stuck in native code cannot be stopped from JavaScript (Node waits
 * for it even at exit). A child can be killed. A model that passes is
 * remembered by its SHA-256 in `<cache>/probed/`, so this costs one process
 * start, once per model.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ResnetServeError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';

const PROBE = fileURLToPath(new URL('./probe-child.js', import.meta.url));

/** Default time the first open-and-run of a model may take. */
export const DEFAULT_PROBE_TIMEOUT_MS = 120_000;

/** Opens and runs `onnxPath` once in a child process; throws MODEL_INVALID if it fails, crashes or takes longer than `timeoutMs`. */
export async function probeModel(onnxPath: string, sha256: string, cacheDir: string, options: { inputSize: number; timeoutMs?: number; label?: string }): Promise<void> {
  const label = options.label ?? onnxPath;
  const marker = join(cacheDir, 'probed', `${sha256}.ok`);
  if (existsSync(marker)) return;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const child = spawn(process.execPath, [PROBE, onnxPath, String(options.inputSize), label], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (c, s) => resolve({ code: c, signal: s })));
  clearTimeout(timer);
  if (timedOut) {
    throw new ResnetServeError('MODEL_INVALID', `${label} did not finish its first inference within ${timeoutMs} ms (a graph that never finishes, or a machine far too slow for it); raise --startup-timeout-ms if the model is right`);
  }
  const reason = stderr.trim().split('\n').pop();
  // The child's one-line refusal names the model when it was about the file; a failed run or a crash does not.
  if (code !== 0 && reason?.startsWith(`${label} `)) throw new ResnetServeError('MODEL_INVALID', reason);
  if (code !== 0) throw new ResnetServeError('MODEL_INVALID', `${label} could not be run: ${reason || (signal ? `ONNX Runtime was killed by ${signal}` : `exit code ${code}`)}`);
  await writeFileAtomic(marker, '').catch(() => undefined);
}

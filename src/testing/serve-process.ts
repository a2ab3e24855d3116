/**
 * Test helper: `resnet-serve serve` as its own process, the way a user starts
 * it, resolved once it says where it is ready.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { after } from 'node:test';
import type { Readable } from 'node:stream';

/** A running `serve` process, its port and URL, and what it has written to stderr so far. */
export interface ServeProcess {
  child: ChildProcessByStdio<null, null, Readable>;
  port: number;
  url: string;
  stderr(): string;
}

/**
 * Starts `node bin serve …args` with `env` and waits for its "ready at" line;
 * rejects with its stderr if it exits first. A process still running when the
 * calling test ends (it failed before stopping it) is killed, so the test file
 * ends instead of waiting for it.
 */
export async function startServe(bin: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const child = spawn(process.execPath, [bin, 'serve', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code} before it was ready: ${stderr}`)));
  });
  return { child, url, port: Number(new URL(url).port), stderr: () => stderr };
}

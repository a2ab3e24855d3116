/**
 * Test helper: a command quantising a model of its own, interrupted. A fresh
 * random checkpoint and calibration photos make it quantise now (a few
 * seconds), not find a cached graph; a signal (SIGINT unless told) is
 * sent once it says it is quantising, to the command alone or, as a
 * terminal does, to its whole process group.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testPhoto } from './fixtures.js';
import { writeRandomCheckpoint } from './random-resnet.js';
import { scratchDir } from './scratch.js';

/** What an interrupted command did: how it ended (its signal, else its exit code) and its stderr. */
export interface Interrupted {
  endedBy: NodeJS.Signals | number | null;
  stderr: string;
}

/** Which signal, and whether it goes to the command's whole process group (its build process too). */
export interface InterruptOptions {
  signal?: NodeJS.Signals;
  /** Sent to the group, as a terminal's Ctrl-C or hang-up is; the call returns once every process of it has ended. */
  group?: boolean;
}

/**
 * Runs `node bin <args…> --model M --precision int8 --calibrate DIR` (M and
 * DIR made here from `seed`) with `env`, and sends the signal once it prints
 * that it is quantising.
 */
export async function interruptWhileQuantising(bin: string, args: readonly string[], env: NodeJS.ProcessEnv, seed: number, options: InterruptOptions = {}): Promise<Interrupted> {
  const { signal = 'SIGINT', group = false } = options;
  const model = (await writeRandomCheckpoint('resnet18', seed)).path;
  const calibration = join(await scratchDir('rs-calibration-'), 'photos');
  mkdirSync(calibration);
  for (let i = 0; i < 12; i++) writeFileSync(join(calibration, `cal ${i}.jpg`), await testPhoto(seed * 100 + i, 640, 480));
  const child = spawn(process.execPath, [bin, ...args, '--model', model, '--precision', 'int8', '--calibrate', calibration], { env, stdio: ['ignore', 'ignore', 'pipe'], detached: group });
  let stderr = '';
  const quantising = new Promise<void>((resolve) =>
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
      if (/Quantising the model to int8/.test(stderr)) resolve();
    }),
  );
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  await Promise.race([quantising, exited]);
  if (group) process.kill(-child.pid!, signal);
  else child.kill(signal);
  const endedBy = await exited;
  if (group) await groupEnded(child.pid!);
  return { endedBy, stderr };
}

/** Resolves once no process of group `pgid` is left; throws after 20 s. */
async function groupEnded(pgid: number): Promise<void> {
  for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
  }
  throw new Error(`process group ${pgid} still running 20 s after the signal`);
}

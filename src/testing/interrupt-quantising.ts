/**
 * Test helper: a command quantising a model of its own, interrupted. A fresh
 * random checkpoint and calibration photos make it quantise now (a few
 * seconds), not find a cached graph; SIGINT is sent once it says it is
 * quantising.
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

/**
 * Runs `node bin <args…> --model M --precision int8 --calibrate DIR` (M and
 * DIR made here from `seed`) with `env`, and sends SIGINT once it prints
 * that it is quantising.
 */
export async function interruptWhileQuantising(bin: string, args: readonly string[], env: NodeJS.ProcessEnv, seed: number): Promise<Interrupted> {
  const model = (await writeRandomCheckpoint('resnet18', seed)).path;
  const calibration = join(await scratchDir('rs-calibration-'), 'photos');
  mkdirSync(calibration);
  for (let i = 0; i < 12; i++) writeFileSync(join(calibration, `cal ${i}.jpg`), await testPhoto(seed * 100 + i, 640, 480));
  const child = spawn(process.execPath, [bin, ...args, '--model', model, '--precision', 'int8', '--calibrate', calibration], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const quantising = new Promise<void>((resolve) =>
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
      if (/Quantising the model to int8/.test(stderr)) resolve();
    }),
  );
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  await Promise.race([quantising, exited]);
  child.kill('SIGINT');
  return { endedBy: await exited, stderr };
}

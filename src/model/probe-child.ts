/** The child process of `probe.ts`: opens a model, runs one zero image through it, exits 0 (or prints why not and exits 2). */
import { ClassifierSession } from './session.js';

const [path, size, label] = process.argv.slice(2);
try {
  const session = await ClassifierSession.open(path, { inputSize: Number(size), threads: 1, label });
  await session.run(new Float32Array(3 * session.inputSize * session.inputSize), 1);
  await session.release();
} catch (err) {
  process.stderr.write(`${(err as Error).message.split('\n')[0]}\n`);
  process.exit(2);
}

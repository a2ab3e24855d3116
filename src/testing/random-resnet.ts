/**
 * Test helper: a random-weight torchvision ResNet state_dict, and a
 * `torch.save`-style zip checkpoint of it, so the whole load path runs on a
 * machine without the reference files or network.
 */
import yazl from 'yazl';
import type { StateDict, Tensor } from '../model/pth.js';
import { seededRandom } from '../seeded-random.js';
import { stateDictPickle, type TensorEntry } from './pickle-writer.js';
import { scratchDir } from './scratch.js';

export { seededRandom };

/** Layer layouts of torchvision's ResNets. */
export const RESNET_LAYOUTS = {
  resnet18: { block: 'basic', blocks: [2, 2, 2, 2] },
  resnet34: { block: 'basic', blocks: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', blocks: [3, 4, 6, 3] },
} as const;

/**
 * Builds a random state_dict with torchvision's key names and shapes
 * (He-scaled convolutions, randomised BatchNorm statistics).
 */
export function randomResnetStateDict(arch: keyof typeof RESNET_LAYOUTS = 'resnet18', seed = 1, numClasses = 1000): StateDict {
  const rand = seededRandom(seed);
  // Uniform noise with unit variance: cheaper than Gaussian and just as good for exercising the graph.
  const noise = (): number => (rand() * 2 - 1) * Math.sqrt(3);
  const dict: StateDict = new Map();
  const add = (name: string, shape: number[], fill: (i: number) => number): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = fill(i);
    dict.set(name, { dtype: 'float32', shape, data } as Tensor);
  };
  const conv = (name: string, out: number, inC: number, k: number): void => {
    const scale = Math.sqrt(2 / (inC * k * k));
    add(`${name}.weight`, [out, inC, k, k], () => noise() * scale);
  };
  const bn = (name: string, c: number): void => {
    add(`${name}.weight`, [c], () => 0.5 + rand());
    add(`${name}.bias`, [c], () => (rand() - 0.5) * 0.2);
    add(`${name}.running_mean`, [c], () => (rand() - 0.5) * 0.2);
    add(`${name}.running_var`, [c], () => 0.5 + rand());
    dict.set(`${name}.num_batches_tracked`, { dtype: 'int64', shape: [], data: new Float32Array([100]) });
  };
  const { block, blocks } = RESNET_LAYOUTS[arch];
  const expansion = block === 'basic' ? 1 : 4;
  conv('conv1', 64, 3, 7);
  bn('bn1', 64);
  let inC = 64;
  blocks.forEach((count, s) => {
    const planes = 64 * 2 ** s;
    for (let i = 0; i < count; i++) {
      const p = `layer${s + 1}.${i}`;
      if (block === 'basic') {
        conv(`${p}.conv1`, planes, inC, 3); bn(`${p}.bn1`, planes);
        conv(`${p}.conv2`, planes, planes, 3); bn(`${p}.bn2`, planes);
      } else {
        conv(`${p}.conv1`, planes, inC, 1); bn(`${p}.bn1`, planes);
        conv(`${p}.conv2`, planes, planes, 3); bn(`${p}.bn2`, planes);
        conv(`${p}.conv3`, planes * 4, planes, 1); bn(`${p}.bn3`, planes * 4);
      }
      if (i === 0 && (s > 0 || inC !== planes * expansion)) {
        conv(`${p}.downsample.0`, planes * expansion, inC, 1);
        bn(`${p}.downsample.1`, planes * expansion);
      }
      inC = planes * expansion;
    }
  });
  add('fc.weight', [numClasses, inC], () => (noise() * 0.2) / Math.sqrt(inC));
  add('fc.bias', [numClasses], () => (rand() - 0.5) * 0.1);
  return dict;
}

/** Hostile variations of a checkpoint, for tests: a tensor replaced by another view and storage, extra zip entries. */
export interface CheckpointTweaks {
  replace?: Record<string, { entry: Partial<TensorEntry>; data: Buffer }>;
  extraFiles?: Record<string, Buffer>;
}

/** Serialises a state_dict as `torch.save` does: a zip with `archive/data.pkl` and `archive/data/<key>`. */
export async function checkpointBytes(dict: StateDict, archive = 'archive', tweaks: CheckpointTweaks = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const entries: TensorEntry[] = [];
  let key = 0;
  for (const [name, t] of dict) {
    const storageKey = String(key++);
    const isLong = t.dtype === 'int64';
    const replaced = tweaks.replace?.[name];
    if (replaced) {
      entries.push({ name, storageKey, shape: t.shape, ...replaced.entry });
      zip.addBuffer(replaced.data, `${archive}/data/${storageKey}`, { compress: false });
      continue;
    }
    entries.push({ name, storageKey, shape: t.shape, storage: isLong ? 'LongStorage' : 'FloatStorage' });
    let data: Buffer;
    if (isLong) {
      data = Buffer.alloc(t.data.length * 8);
      t.data.forEach((v, i) => data.writeBigInt64LE(BigInt(v), i * 8));
    } else {
      data = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    }
    zip.addBuffer(data, `${archive}/data/${storageKey}`, { compress: false });
  }
  zip.addBuffer(stateDictPickle(entries), `${archive}/data.pkl`, { compress: false });
  zip.addBuffer(Buffer.from('3\n'), `${archive}/version`, { compress: false });
  for (const [name, data] of Object.entries(tweaks.extraFiles ?? {})) zip.addBuffer(data, name, { compress: true });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Writes a random ResNet checkpoint into a fresh temporary folder and returns its path. */
export async function writeRandomCheckpoint(arch: keyof typeof RESNET_LAYOUTS = 'resnet18', seed = 1): Promise<{ dir: string; path: string; dict: StateDict }> {
  const { writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const dir = await scratchDir('resnet-serve-test-');
  const dict = randomResnetStateDict(arch, seed);
  const path = join(dir, `${arch}-random.pth`);
  await writeFile(path, await checkpointBytes(dict));
  return { dir, path, dict };
}

/**
 * Where official weights live: torchvision's download URLs, our cache, and
 * PyTorch's own hub cache (reused read-only when it already has the file).
 * Downloads are verified against the hash prefix in the file name, as
 * torchvision's `check_hash` does, and written atomically.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { ensureDir } from '../fs-atomic.js';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { ResnetServeError } from '../errors.js';
import { proxyFor } from './proxy.js';

/** torchvision's IMAGENET1K_V1 ResNet checkpoints. */
export const OFFICIAL_CHECKPOINTS: Record<string, string> = {
  resnet18: 'resnet18-f37072fd.pth',
  resnet34: 'resnet34-b627a593.pth',
  resnet50: 'resnet50-0676ba61.pth',
  resnet101: 'resnet101-63fe2227.pth',
  resnet152: 'resnet152-394f9c45.pth',
};

/** Base URL of torchvision's weights; `$RESNET_SERVE_WEIGHTS_URL` overrides it (mirrors). */
export function weightsBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.RESNET_SERVE_WEIGHTS_URL || 'https://download.pytorch.org/models').replace(/\/+$/, '');
}

/** Our cache folder: `$RESNET_SERVE_HOME`, else `$XDG_CACHE_HOME/resnet-serve`, else `~/.cache/resnet-serve`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RESNET_SERVE_HOME) return env.RESNET_SERVE_HOME;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'resnet-serve');
}

/** PyTorch's hub checkpoint folder: `$TORCH_HOME/hub/checkpoints`, TORCH_HOME defaulting as torch.hub does. */
export function torchHubCheckpointDir(env: NodeJS.ProcessEnv = process.env): string {
  const torchHome = env.TORCH_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'torch');
  return join(torchHome, 'hub', 'checkpoints');
}

/** The hash prefix torchvision puts in a checkpoint name (`resnet18-f37072fd.pth` → `f37072fd`). */
export function hashPrefixOf(fileName: string): string | null {
  return /-([a-f0-9]{6,})\./.exec(fileName)?.[1] ?? null;
}

/** Whether `sha256` is the default model's (the official resnet18 weights, used when no --model is given). */
export function isDefaultModel(sha256: string): boolean {
  return sha256.startsWith(hashPrefixOf(OFFICIAL_CHECKPOINTS.resnet18) as string);
}

/** Existing copies of an official checkpoint, PyTorch's hub cache first. */
export function findCachedCheckpoint(fileName: string, cacheDir: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of [torchHubCheckpointDir(env), join(cacheDir, 'checkpoints')]) {
    const p = join(dir, fileName);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Progress callback: bytes so far and the total, when the server says. */
export type ProgressCallback = (received: number, total: number | null) => void;

/**
 * `fetch`, through the proxy the environment names (`proxy.ts`), which Node
 * 20's own `fetch` ignores: undici's `ProxyAgent`, loaded only then.
 */
async function fetchFromEnvironment(url: string, via: { proxy: string } | null, init: { signal: AbortSignal; redirect: 'follow' }): Promise<Response> {
  if (!via) return fetch(url, init);
  const { ProxyAgent, fetch: proxied } = await import('undici');
  return (await proxied(url, { ...init, dispatcher: new ProxyAgent(via.proxy) })) as unknown as Response;
}

/**
 * Downloads `url` to `dest` through a temporary file (through the proxy of
 * HTTPS_PROXY / HTTP_PROXY when set, NO_PROXY honoured), checks that the SHA-256
 * starts with `sha256Prefix`, then renames into place. A mismatch deletes the
 * file and throws MODEL_CHECKSUM; a network failure throws MODEL_NOT_FOUND.
 */
export async function downloadVerified(url: string, dest: string, sha256Prefix: string, onProgress?: ProgressCallback, stallMs = 30_000): Promise<void> {
  await ensureDir(dirname(dest));
  const tmp = `${dest}.${randomBytes(4).toString('hex')}.part`;
  const controller = new AbortController();
  let stall = setTimeout(() => controller.abort(), stallMs);
  const hash = createHash('sha256');
  const via = proxyFor(url, process.env);
  try {
    const res = await fetchFromEnvironment(url, via, { signal: controller.signal, redirect: 'follow' });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    const lengthHeader = res.headers.get('content-length');
    const total = lengthHeader ? Number(lengthHeader) : null;
    const file = createWriteStream(tmp, { flags: 'wx' });
    let received = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(stall);
        stall = setTimeout(() => controller.abort(), stallMs);
        hash.update(chunk);
        received += chunk.length;
        if (!file.write(chunk)) await once(file, 'drain');
        onProgress?.(received, total);
      }
    } finally {
      file.end();
      await once(file, 'close');
    }
    if (total !== null && received !== total) throw new Error(`connection closed after ${received} of ${total} bytes`);
  } catch (err) {
    await rm(tmp, { force: true });
    const reason = controller.signal.aborted ? `no data for ${stallMs / 1000} s` : (err as Error).cause ? String(((err as Error).cause as Error).message ?? (err as Error).cause) : (err as Error).message;
    const through = via ? ` (through the proxy ${via.proxy.replace(/\/\/[^@/]*@/, '//')} of ${via.variable})` : '';
    throw new ResnetServeError('MODEL_NOT_FOUND', `Could not download ${url}${through}: ${reason}`, { cause: err });
  } finally {
    clearTimeout(stall);
  }
  const digest = hash.digest('hex');
  if (!digest.startsWith(sha256Prefix)) {
    await rm(tmp, { force: true });
    throw new ResnetServeError('MODEL_CHECKSUM', `Downloaded file from ${url} has SHA-256 ${digest}, which does not begin with ${sha256Prefix}; it was deleted`);
  }
  await rename(tmp, dest);
}

/** The message for an official checkpoint that is neither cached nor downloadable (`tried`: false when offline mode kept it from trying). */
export function offlineInstructions(fileName: string, url: string, cacheDir: string, env: NodeJS.ProcessEnv = process.env, tried = true): string {
  const why = tried ? 'could not be downloaded' : 'were not downloaded (offline mode: --offline or RESNET_SERVE_OFFLINE)';
  if (env.RESNET_SERVE_IN_CONTAINER) {
    // Paths inside the image mean nothing to the person running it: say what to mount.
    return [
      `The model weights ${fileName} are not in this container and ${why}.`,
      `  1. Download ${url} on a machine with internet access`,
      `  2. Mount it read-only into the container at ${join(torchHubCheckpointDir(env), fileName)}, e.g.`,
      env.KUBERNETES_SERVICE_HOST
        ? `     a volume (a PersistentVolumeClaim or an image volume holding it) with volumeMounts: [{mountPath: ${torchHubCheckpointDir(env)}, readOnly: true}]`
        : `     docker run -v /path/to/${fileName}:${join(torchHubCheckpointDir(env), fileName)}:ro …`,
      `  or copy it into the cache volume (${cacheDir}) as checkpoints/${fileName},`,
      `  or build the image with the weights baked in: docker build --build-arg BAKE_MODEL=1 [--build-arg RESNET_SERVE_WEIGHTS_URL=<mirror>] .`,
    ].join('\n');
  }
  return [
    `The model weights ${fileName} are not on this machine and ${why}.`,
    `  1. Download ${url}`,
    `  2. Put it at ${join(cacheDir, 'checkpoints', fileName)}`,
    `     (or in PyTorch's cache, ${join(torchHubCheckpointDir(env), fileName)})`,
    `  or give the model as a file: --model /path/to/${fileName} (from code: { model: '/path/to/${fileName}' }; any torchvision ResNet .pth or ImageNet .onnx file).`,
  ].join('\n');
}

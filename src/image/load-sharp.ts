/**
 * sharp (libvips), loaded when an image first needs it. Most photos are JPEGs,
 * which libjpeg-turbo decodes directly (`jpeg-native.ts`), so a server or a
 * CLI run that only sees JPEGs never loads libvips: measured, loading it costs
 * a thread 150–185 ms and a process 12–14 MB of memory it keeps; the first
 * PNG, WebP, GIF, TIFF or HEIF pays the load once instead.
 */
import type { default as SharpFunction } from 'sharp';

export type SharpModule = typeof SharpFunction;

let loaded: SharpModule | null = null;
let loading: Promise<SharpModule> | null = null;
const setups: ((sharp: SharpModule) => void)[] = [];

/** sharp, through `guarded-sharp.ts` (the loaders we accept), loaded on the first call. */
export function loadSharp(): Promise<SharpModule> {
  loading ??= import('./guarded-sharp.js').then(({ default: sharp }) => {
    for (const setup of setups) setup(sharp);
    loaded = sharp;
    return sharp;
  });
  return loading;
}

/** Runs `setup` (libvips' thread count, its cache) on sharp when it loads, or now if it has. */
export function whenSharpLoads(setup: (sharp: SharpModule) => void): void {
  if (loaded) setup(loaded);
  else setups.push(setup);
}

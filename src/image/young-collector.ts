/**
 * Young-generation collections, asked for by a thread that decodes images.
 * Such a thread allocates little JavaScript, so V8 collected it seldom, only
 * once tens of MB of image buffers (uploads, decoded pixels: memory outside
 * its heap, freed only when their JavaScript objects are) had piled up, and
 * glibc kept the heap it grew for them. Measured on the int8 server 1 s after
 * the bench's load, three alternating runs: 239–241 MB without, 202–207 MB
 * collecting every 2 MB of uploads (8 MB: 205–224), the same latency and
 * throughput. A collection of this small young generation takes well under a
 * millisecond.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Image bytes let go of between two collections. */
export const COLLECT_EVERY_BYTES = 2 * 1024 * 1024;

/**
 * A function to call with the size of each image let go of; it runs a
 * young-generation collection in this thread once {@link COLLECT_EVERY_BYTES}
 * have gone by.
 */
export function youngCollector(everyBytes = COLLECT_EVERY_BYTES): (bytes: number) => void {
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as (options: { type: 'minor' }) => void;
  let letGo = 0;
  return (bytes) => {
    letGo += bytes;
    if (letGo < everyBytes) return;
    letGo = 0;
    collect({ type: 'minor' });
  };
}

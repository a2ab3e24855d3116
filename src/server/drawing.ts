/**
 * Pictures the server draws from an upload (explanation overlays, a head's
 * example thumbnails) decode the photo again, whole, with libvips on the
 * event loop's thread pool: a 49-megapixel image takes about 150 MB to hold
 * and seconds to decode, and six such requests at once took the process to
 * 2.8 GB. They are drawn one at a time, in arrival order, each waiting at
 * most as long as its request may.
 */
import { ConcurrencyGate } from '../classify/concurrency-gate.js';

const drawing = new ConcurrencyGate(1);

/** Runs `draw` when no other drawing is in progress; rejects with `signal`'s reason if it aborts while waiting. */
export async function drawInTurn<T>(draw: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const leave = await drawing.enter(signal);
  try {
    return await draw();
  } finally {
    leave();
  }
}

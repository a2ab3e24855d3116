/**
 * Input tensors in shared memory, reused from image to image. A
 * preprocessing worker writes an image's tensor into a slot, the batcher
 * hands the slot to the inference thread (shared, not copied), which copies
 * it into its input; the slot returns to the pool when the image's inference
 * is over. The main thread
 * thus allocates no 0.6 MB tensor per image: measured on the server at
 * concurrency 16, per-image tensors made V8 run a full garbage collection
 * every ~10 images, which cost about 2 ms of CPU per image.
 *
 * Slots are made on demand, up to `max`, and reused last-in first-out, so
 * only as many exist as images were ever in progress at once; an image
 * takes one only when a worker is about to preprocess it (the service's
 * `ConcurrencyGate`), not while it waits for one.
 */
import { invalidArgument } from '../errors.js';

export class TensorSlots {
  private readonly free: Float32Array[] = [];
  private made = 0;

  /**
   * @param length floats per tensor (3 × S × S)
   * @param max most slots ever made; past it, {@link acquire} returns null
   */
  constructor(
    readonly length: number,
    readonly max: number,
  ) {
    if (!Number.isInteger(length) || length < 1) throw invalidArgument('length', 'a positive integer', length);
    if (!Number.isInteger(max) || max < 0) throw invalidArgument('max', 'an integer >= 0', max);
  }

  /** A free slot (a Float32Array over shared memory), or null when `max` are in use. */
  acquire(): Float32Array | null {
    const slot = this.free.pop();
    if (slot) return slot;
    if (this.made >= this.max) return null;
    this.made++;
    return new Float32Array(new SharedArrayBuffer(this.length * Float32Array.BYTES_PER_ELEMENT));
  }

  /** Gives a slot back; its contents may be overwritten at once. */
  release(slot: Float32Array): void {
    if (slot.length !== this.length || !(slot.buffer instanceof SharedArrayBuffer)) throw invalidArgument('slot', `a tensor slot of ${this.length} floats`, slot.length);
    if (this.free.includes(slot)) return;
    this.free.push(slot);
  }

  /**
   * Forgets a slot that may still be written (its worker was stopped in the
   * middle of an image): it is never handed out again, and a new one may be
   * made in its place.
   */
  discard(slot: Float32Array): void {
    if (slot.length !== this.length || this.free.includes(slot)) return;
    this.made--;
  }

  /** Slots made so far (each holds `length` floats for as long as the pool lives). */
  get size(): number {
    return this.made;
  }

  /** Slots in use now. */
  get inUse(): number {
    return this.made - this.free.length;
  }
}

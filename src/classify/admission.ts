/**
 * Admission control for the engine: how many images may be in progress
 * (decoding or waiting for inference) at once. Beyond the bound a request is
 * either refused at once with QUEUE_FULL ("try later": the server's 503) or
 * waits for room, first come first served (a library call). Calls are
 * counted too: once closed, no new call or image is admitted, a call already
 * running goes on to its end, and {@link Admission.close} resolves when the
 * last one has.
 */
import { ResnetServeError } from '../errors.js';
import { plural } from '../plural.js';

interface Waiter {
  n: number;
  admitted: (release: () => void) => void;
}

/** The count of images in progress against a fixed bound, and of calls running. */
export class Admission {
  private admitted = 0;
  private calls = 0;
  private closed = false;
  private readonly waiting: Waiter[] = [];
  private readonly idleWaiters: (() => void)[] = [];

  /** @param max Most images in progress at once. */
  constructor(readonly max: number) {}

  /** Images admitted and not yet released. */
  get inProgress(): number {
    return this.admitted;
  }

  /**
   * Throws QUEUE_FULL when `n` more images would not fit; `mirrored`: they are
   * photos answered with a head, each with its mirror image, and the message
   * says why they count twice.
   */
  ensureCapacity(n = 1, mirrored = false): void {
    if (this.admitted + n > this.max || this.waiting.length > 0) {
      const twice = mirrored ? `; a photo answered with a head counts as two, it and its mirror image` : '';
      throw new ResnetServeError('QUEUE_FULL', `The server is busy (${plural(this.admitted, 'image')} in progress, of at most ${this.max}${twice}); retry shortly`);
    }
  }

  /**
   * Reserves room for `n` images or throws at once: NOT_READY once closed
   * (unless `withinCall`: for a call admitted before), QUEUE_FULL when full.
   * Returns the release function; releasing twice is releasing once.
   */
  admit(n: number, mirrored = false, withinCall = false): () => void {
    if (this.closed && !withinCall) throw closedError();
    this.ensureCapacity(n, mirrored);
    return this.take(n);
  }

  /**
   * Reserves room for `n` images (at most `max`) once there is room, after
   * those waiting before; rejects with `signal`'s reason if it aborts first.
   * For a call admitted with {@link enterCall}.
   */
  whenRoom(n: number, signal?: AbortSignal): Promise<() => void> {
    if (n > this.max) return Promise.reject(new ResnetServeError('INTERNAL', `${n} images cannot be in progress at once (at most ${this.max})`));
    if (this.waiting.length === 0 && this.admitted + n <= this.max) return Promise.resolve(this.take(n));
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        n,
        admitted: (release) => {
          signal?.removeEventListener('abort', gone);
          resolve(release);
        },
      };
      const gone = (): void => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal?.reason);
        this.wake();
      };
      signal?.addEventListener('abort', gone, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Counts a call in progress (NOT_READY once closed). Returns the function that ends it. */
  enterCall(): () => void {
    if (this.closed) throw closedError();
    this.calls += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.calls -= 1;
      this.settle();
    };
  }

  /** Admits no new call or image; resolves once every call and image admitted has finished. */
  close(): Promise<void> {
    this.closed = true;
    if (this.idle()) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private take(n: number): () => void {
    this.admitted += n;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.admitted -= n;
      this.wake();
      this.settle();
    };
  }

  /** Admits those waiting, in order, while there is room. */
  private wake(): void {
    while (this.waiting.length > 0 && this.admitted + this.waiting[0].n <= this.max) {
      const next = this.waiting.shift() as Waiter;
      next.admitted(this.take(next.n));
    }
  }

  private idle(): boolean {
    return this.admitted === 0 && this.calls === 0;
  }

  private settle(): void {
    if (this.idle()) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

const closedError = (): ResnetServeError => new ResnetServeError('NOT_READY', 'This service is closed: start another to go on');

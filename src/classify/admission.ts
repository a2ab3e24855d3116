/**
 * Admission control for the engine: how many images may be in progress
 * (decoding or waiting for inference) at once. Beyond the bound a request is
 * refused at once with QUEUE_FULL ("try later") instead of queueing without
 * bound; once closed, nothing more is admitted and {@link Admission.close}
 * resolves when the last image admitted is answered.
 */
import { ResnetServeError } from '../errors.js';
import { plural } from '../plural.js';

/** The count of images in progress against a fixed bound. */
export class Admission {
  private admitted = 0;
  private closed = false;
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
    if (this.admitted + n > this.max) {
      const twice = mirrored ? `; a photo answered with a head counts as two, it and its mirror image` : '';
      throw new ResnetServeError('QUEUE_FULL', `The server is busy (${plural(this.admitted, 'image')} in progress, of at most ${this.max}${twice}); retry shortly`);
    }
  }

  /**
   * Reserves room for `n` images or throws (NOT_READY once closed, QUEUE_FULL
   * when full). Returns the release function; releasing twice is releasing once.
   */
  admit(n: number, mirrored = false): () => void {
    if (this.closed) throw new ResnetServeError('NOT_READY', 'This service is closed: start another to go on');
    this.ensureCapacity(n, mirrored);
    this.admitted += n;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.admitted -= n;
      if (this.admitted === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    };
  }

  /** Admits nothing more; resolves once every image admitted has been released. */
  close(): Promise<void> {
    this.closed = true;
    if (this.admitted === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}

/**
 * sharp, and the switch that limits libvips to the loaders we accept: images
 * from memory in JPEG, PNG, WebP, GIF, TIFF and HEIF/AVIF. Every other
 * loader (SVG, PDF, ImageMagick, files by name…) is then blocked
 * process-wide, so it never runs whatever a file's first bytes say. The
 * switch is global to the process (libvips keeps one list), so importing
 * the library leaves it alone, for a host app that uses sharp itself: our
 * own executable turns it on through {@link RESTRICT_LOADERS_ENV} before
 * anything loads, which its worker threads and child processes inherit, and
 * a library user calls {@link restrictImageLoaders}. Without it, our own
 * first-bytes check (`formats.ts`) is what keeps other formats from libvips.
 * Import sharp from here, never directly.
 */
import sharp from 'sharp';
import { RESTRICT_LOADERS_ENV } from './formats.js';

/** The only libvips loaders that may run once restricted. */
const ALLOWED_LOADERS = ['VipsForeignLoadJpegBuffer', 'VipsForeignLoadPngBuffer', 'VipsForeignLoadWebpBuffer', 'VipsForeignLoadNsgifBuffer', 'VipsForeignLoadTiffBuffer', 'VipsForeignLoadHeifBuffer'];

let restricted = false;

/**
 * Lets only the JPEG, PNG, WebP, GIF, TIFF and HEIF/AVIF loaders from memory
 * run in this process, for every caller of sharp (yours too): call it once
 * at start in a process that classifies untrusted uploads. Idempotent.
 */
export function restrictImageLoaders(): void {
  if (restricted) return;
  sharp.block({ operation: ['VipsForeignLoad'] });
  sharp.unblock({ operation: ALLOWED_LOADERS });
  restricted = true;
}

if (process.env[RESTRICT_LOADERS_ENV] === '1') restrictImageLoaders();

export default sharp;

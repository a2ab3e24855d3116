/**
 * sharp with only the loaders we accept: images from memory in JPEG, PNG,
 * WebP, GIF, TIFF and HEIF/AVIF. Every other libvips loader (SVG, PDF,
 * ImageMagick, files by name…) is blocked process-wide, so it never runs
 * whatever a file's first bytes say. Import sharp from here, never directly,
 * so the guard is in place whichever thread loads it first.
 */
import sharp from 'sharp';

/** The only libvips loaders that may run, process-wide. */
const ALLOWED_LOADERS = ['VipsForeignLoadJpegBuffer', 'VipsForeignLoadPngBuffer', 'VipsForeignLoadWebpBuffer', 'VipsForeignLoadNsgifBuffer', 'VipsForeignLoadTiffBuffer', 'VipsForeignLoadHeifBuffer'];
sharp.block({ operation: ['VipsForeignLoad'] });
sharp.unblock({ operation: ALLOWED_LOADERS });

export default sharp;

/**
 * A photo file read from disk the careful way: its first bytes and its size
 * are checked before the rest is read, so a file that is not an image (a
 * video or a disk image named `.jpg`) or is larger than any photo is refused
 * at once instead of being read whole into memory (a 1.2 GB file named
 * `.jpg` took 1.4 GB and 5 s before it was refused).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { ResnetServeError } from '../errors.js';
import { refuseUnlessImage } from './formats.js';

/** Larger than any photo we decode (50 MP of 16-bit RGBA, uncompressed, is 400 MB). */
export const MAX_PHOTO_FILE_BYTES = 512 * 2 ** 20;

/** Bytes enough to tell every accepted format by its first bytes. */
const HEAD_BYTES = 64;

/** Throws IMAGE_TOO_LARGE or IMAGE_UNSUPPORTED when a file of `size` bytes starting with `head` cannot be a photo we read. */
export function refuseUnlessPhotoFile(head: Uint8Array, size: number): void {
  // What the file is comes first: "a video, not a photo" helps more than its size.
  if (size > 0) refuseUnlessImage(head);
  if (size > MAX_PHOTO_FILE_BYTES) {
    throw new ResnetServeError('IMAGE_TOO_LARGE', `The file is ${Math.round(size / 2 ** 20)} MB, larger than any photo this reads (${MAX_PHOTO_FILE_BYTES / 2 ** 20} MB)`);
  }
}

/** The first bytes and the size of an open file. */
async function headOf(handle: FileHandle): Promise<{ head: Buffer; size: number }> {
  const { size } = await handle.stat();
  const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
  await handle.read(head, 0, head.length, 0);
  return { head, size };
}

/** The first bytes and size of the file at `path` (an fs path). */
export async function photoFileHead(path: string | Buffer): Promise<{ head: Buffer; size: number }> {
  const handle = await open(path, 'r');
  try {
    return await headOf(handle);
  } finally {
    await handle.close();
  }
}

/**
 * The bytes of the photo file at `path` (an fs path); IMAGE_TOO_LARGE or
 * IMAGE_UNSUPPORTED, without reading it whole, when it cannot be one.
 * File system errors are thrown as they are.
 */
export async function readPhotoFile(path: string | Buffer): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const { head, size } = await headOf(handle);
    refuseUnlessPhotoFile(head, size);
    // Positional reads leave the file position at 0: this reads the whole file.
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

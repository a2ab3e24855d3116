/**
 * A photo file read from disk the careful way: its first bytes and its size
 * are checked before the rest is read, so a file that is not an image (a
 * video or a disk image named `.jpg`) or is larger than any photo is refused
 * at once instead of being read whole into memory (a 1.2 GB file named
 * `.jpg` took 1.4 GB and 5 s before it was refused). Only regular files are
 * read: a device (`/dev/zero` never ends), a FIFO (it waits for a writer) or
 * a socket is refused before a byte is read, opened without waiting.
 */
import { constants } from 'node:fs';
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

/** Opens `path` for reading without waiting on a FIFO (no effect on a regular file). */
function openForReading(path: string | Buffer): Promise<FileHandle> {
  return open(path, constants.O_RDONLY | constants.O_NONBLOCK);
}

/** The first bytes and the size of an open file; IMAGE_UNSUPPORTED for anything but a regular file. */
async function headOf(handle: FileHandle): Promise<{ head: Buffer; size: number }> {
  const stats = await handle.stat();
  // A folder is a file system error, as reading it would be.
  if (stats.isDirectory()) throw Object.assign(new Error('EISDIR: illegal operation on a directory, read'), { code: 'EISDIR' });
  if (!stats.isFile()) throw new ResnetServeError('IMAGE_UNSUPPORTED', `Not a regular file (${kindOf(stats)}), so not a photo`);
  const { size } = stats;
  const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
  await handle.read(head, 0, head.length, 0);
  return { head, size };
}

/** What a file that is not a regular one is, in words. */
function kindOf(stats: import('node:fs').Stats): string {
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** The first bytes and size of the file at `path` (an fs path); IMAGE_UNSUPPORTED for anything but a regular file. */
export async function photoFileHead(path: string | Buffer): Promise<{ head: Buffer; size: number }> {
  const handle = await openForReading(path);
  try {
    return await headOf(handle);
  } finally {
    await handle.close();
  }
}

/**
 * The bytes of the photo file at `path` (an fs path); IMAGE_TOO_LARGE or
 * IMAGE_UNSUPPORTED, without reading it whole, when it cannot be one (or is
 * not a regular file).
 * File system errors are thrown as they are.
 */
export async function readPhotoFile(path: string | Buffer): Promise<Buffer> {
  const handle = await openForReading(path);
  try {
    const { head, size } = await headOf(handle);
    refuseUnlessPhotoFile(head, size);
    // Positional reads leave the file position at 0: this reads the whole file.
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * `-` among the files: the photo piped in (`curl -s URL | resnet-serve
 * classify -`), read once, as the file system's photos are: bounded by the
 * same size, and no further than its first bytes when they are no image
 * (the classifier then refuses those, with the code a file would get).
 */
import type { Readable } from 'node:stream';
import { ResnetServeError } from '../errors.js';
import { looksLikeImage } from '../image/formats.js';
import { MAX_PHOTO_FILE_BYTES } from '../image/read-photo.js';
import { UsageError } from './args.js';

/** How standard input is named among the files, and in the output (as sha256sum names it). */
export const STDIN_NAME = '-';

/** Reads the photo on `stream` (standard input); UsageError when it is a terminal, nothing being piped in. */
export async function readPipedPhoto(stream: Readable & { isTTY?: boolean } = process.stdin): Promise<Buffer> {
  if (stream.isTTY) throw new UsageError(`"${STDIN_NAME}" reads a photo from standard input, and none is piped in (resnet-serve classify - < photo.jpg)`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = chunk as Buffer;
    if (size === 0 && bytes.length >= 16 && !looksLikeImage(bytes)) {
      stream.destroy();
      return bytes;
    }
    size += bytes.length;
    if (size > MAX_PHOTO_FILE_BYTES) {
      stream.destroy();
      throw new ResnetServeError('IMAGE_TOO_LARGE', `Standard input holds more than ${MAX_PHOTO_FILE_BYTES / 2 ** 20} MB, more than any photo this reads`);
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, size);
}

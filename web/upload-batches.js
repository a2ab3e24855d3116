// Photos added in the Teach view, split into the uploads the server takes.
import { state } from './common.js';

/**
 * Splits photos into uploads the server takes (at most its files per request and its bytes per request,
 * with room for the form's own bytes); a photo larger than a whole request is refused here.
 */
export function uploadBatches(files) {
  const batches = [];
  const tooLarge = [];
  let current = [];
  let bytes = 0;
  const room = (count, size) => size + 2048 * count <= state.maxBytes;
  for (const f of files) {
    if (!room(1, f.size)) {
      tooLarge.push(f);
      continue;
    }
    if (current.length && (current.length >= state.maxFiles || !room(current.length + 1, bytes + f.size))) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(f);
    bytes += f.size;
  }
  if (current.length) batches.push(current);
  return { batches, tooLarge };
}

// The picture a result card shows: the square the model looks at (the photo itself, cropped by CSS), a still
// of an animated photo's first frame, the server's own picture of a photo the browser cannot show, a
// labelled tile for a file nobody can show, or the heatmap when it is on.
import { el, postPhoto, t } from './common.js';

/**
 * The card's picture for `item`; `redraw(item)` draws the card again once a better picture has come,
 * and `enlarge(item)` opens the heatmap large (a click on it).
 */
export function cardPicture(item, { alt, redraw, enlarge }) {
  if (item.explain.on && item.explain.url) {
    // A click (or the Enlarge button, for the keyboard) shows it over the whole photo, as large as the screen allows.
    const map = el('img', { className: 'thumb', alt, src: item.explain.url });
    map.addEventListener('click', () => enlarge(item));
    return map;
  }
  if (!item.thumbOk) return el('div', { className: 'thumb no-thumb', textContent: t('noPreview') });
  const img = el('img', { className: 'thumb', alt, src: item.thumbUrl });
  // A photo the browser cannot show (TIFF, HEIC): the server's own picture of the square the model saw;
  // a file nobody can show: a labelled tile, never a broken-image icon.
  img.onerror = () => {
    if (item.preview) return; // Asked for already (cards redraw while they upload).
    // A file the server refused, or one the browser knows is not a picture (text, PDF): a preview would be refused too.
    if (item.state === 'error' || (item.file.type && !item.file.type.startsWith('image/'))) {
      item.thumbOk = false;
      return redraw(item);
    }
    // Until the answer comes, it is not known whether the server reads the file: the card is drawn again then,
    // and that picture's error decides.
    if (item.state !== 'done') return;
    item.preview = 'loading';
    postPhoto('v1/explain?image=crop&heatmap=off', item.file)
      .then((res) => (res.ok ? res.blob() : Promise.reject(new Error(String(res.status)))))
      .then((blob) => {
        URL.revokeObjectURL(item.thumbUrl);
        item.thumbUrl = URL.createObjectURL(blob);
        item.preview = 'done';
      })
      .catch(() => {
        item.preview = 'failed';
        item.thumbOk = false;
      })
      .finally(() => !item.removed && redraw(item));
  };
  return img;
}

/**
 * Types that may be animated: GIFs and WebPs would play in the thumbnail while the answer is for their
 * first frame, the one the model sees, so those show a still of that frame instead.
 */
export const MAY_MOVE = new Set(['image/gif', 'image/webp', 'image/apng']);

/** Replaces `item`'s thumbnail with a still of its first frame (the browser's decoder gives it), then `redraw(item)`. */
export async function showFirstFrame(item, redraw) {
  try {
    const bitmap = await createImageBitmap(item.file);
    const side = Math.min(bitmap.width, bitmap.height);
    const size = Math.min(side, 448);
    const canvas = el('canvas', { width: size, height: size });
    canvas.getContext('2d').drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, size, size);
    bitmap.close();
    const still = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (!still || item.removed) return;
    URL.revokeObjectURL(item.thumbUrl);
    item.thumbUrl = URL.createObjectURL(still);
    redraw(item);
  } catch {
    // Not a picture the browser reads: the picture's own fallback (the server's preview, or a labelled tile) follows.
  }
}

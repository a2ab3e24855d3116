// A heatmap as large as the screen allows, drawn over the whole photo: for a projector, or a closer look.
import { $, errorText } from './common.js';

let url = null;
let returnTo = null;

function forget() {
  if (url) URL.revokeObjectURL(url);
  url = null;
  $('heatmap-large').removeAttribute('src');
}

/**
 * Opens the dialog titled `title`, with `key` (the legend's elements) below the picture `picture` (a promise
 * of the fetch of the map over the whole photo). Closing it (×, Esc) returns the focus where it was, or, when
 * nothing had it (a click on the map itself), to what `fallback()` gives then (a card may be drawn anew meanwhile).
 */
export async function showLarge(title, key, picture, fallback) {
  const dialog = $('heatmap-dialog');
  forget();
  if (!dialog.open) returnTo = document.activeElement && document.activeElement !== document.body ? null : fallback;
  $('heatmap-title').textContent = title;
  $('heatmap-large').alt = title;
  $('heatmap-error').textContent = '';
  $('heatmap-legend').replaceChildren(...key);
  if (!dialog.open) dialog.showModal();
  $('heatmap-close').focus();
  try {
    const res = await picture;
    if (!res.ok) throw Object.assign(new Error('enlarge'), { code: (await res.json().catch(() => null))?.code ?? 'UNKNOWN' });
    const blob = await res.blob();
    if (!dialog.open) return;
    url = URL.createObjectURL(blob);
    $('heatmap-large').src = url;
  } catch (err) {
    $('heatmap-error').textContent = errorText(err.code ?? 'NETWORK');
  }
}

/** Wires the dialog's close button and lets its picture go when it closes. */
export function setupLarge() {
  $('heatmap-close').addEventListener('click', () => $('heatmap-dialog').close());
  $('heatmap-dialog').addEventListener('close', () => {
    forget();
    // The browser gives the focus back to what had it; when nothing did, it would stay on the closed dialog's × and
    // then fall to the page.
    const lost = !document.activeElement || document.activeElement === document.body || $('heatmap-dialog').contains(document.activeElement);
    if (returnTo && lost) returnTo()?.focus();
    returnTo = null;
  });
}

// Result cards: one per photo, with its thumbnail, upload and analysis progress, then the top labels
// (or "unknown" when a head finds the photo unlike its training photos). Used by both views.
import { authHeaders, el, state, t } from './common.js';

const all = [];

/** Draws one card in its current state and language. */
function render(item) {
  const card = item.card;
  card.dataset.state = item.state;
  const body = card.querySelector('.body');
  body.replaceChildren(el('p', { className: 'name', textContent: item.file.name || 'image', title: item.file.name || '' }));
  if (item.state === 'waiting' || item.state === 'uploading' || item.state === 'analysing') {
    const text = item.state === 'uploading' ? t('uploading', { pct: item.progress }) : t(item.state);
    const bar = el('progress', { max: 100 });
    if (item.state === 'uploading') bar.value = item.progress;
    bar.setAttribute('aria-label', text);
    body.append(el('p', { className: 'state', textContent: text }), bar);
    card.setAttribute('aria-busy', 'true');
    return;
  }
  card.removeAttribute('aria-busy');
  if (item.state === 'error') {
    body.append(el('p', { className: 'state', textContent: item.error, role: 'alert' }));
    return;
  }
  if (item.result.unknown) body.append(el('p', { className: 'unknown', textContent: t('unknown') }));
  const list = el('ol', { className: 'preds' });
  for (const p of item.result.predictions) {
    const pct = (p.score * 100).toFixed(1);
    const label = state.lang === 'zh' && p.label_zh ? p.label_zh : p.label;
    const fill = el('span', { className: 'fill' });
    fill.style.width = `${Math.max(0.5, p.score * 100)}%`;
    const row = el('li', { className: 'pred' }, [fill, el('span', { className: 'label', textContent: label }), el('span', { className: 'pct', textContent: `${pct}%` })]);
    row.dataset.index = String(p.index);
    row.setAttribute('aria-label', `${label} ${pct}%`);
    list.append(row);
  }
  body.append(list, el('p', { className: 'timing', textContent: t('server', { ms: Math.round(item.result.timings_ms.total) }) }));
}

function upload(item) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append('file', item.file, item.file.name || 'image');
    const xhr = new XMLHttpRequest();
    const head = item.head ? `&head=${encodeURIComponent(item.head)}` : '';
    xhr.open('POST', `/v1/classify?top_k=${encodeURIComponent(item.topK)}${head}`);
    xhr.responseType = 'json';
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      item.progress = Math.round((e.loaded / e.total) * 100);
      render(item);
    };
    xhr.upload.onload = () => {
      item.state = 'analysing';
      render(item);
    };
    xhr.onload = () => {
      const body = xhr.response;
      const result = body && Array.isArray(body.results) ? body.results[0] : null;
      if (result && result.predictions) {
        item.state = 'done';
        item.result = result;
      } else {
        item.state = 'error';
        item.error = result?.error?.message ?? body?.error ?? `HTTP ${xhr.status}`;
      }
      resolve();
    };
    xhr.onerror = () => {
      item.state = 'error';
      item.error = t('network');
      resolve();
    };
    item.state = 'uploading';
    item.progress = 0;
    render(item);
    xhr.send(form);
  });
}

let active = 0;
const queue = [];
function pump(done) {
  while (active < 4 && queue.length) {
    const item = queue.shift();
    active++;
    upload(item).then(() => {
      active--;
      render(item);
      done();
      pump(done);
    });
  }
}

/**
 * Adds a card per file to `list` and classifies each (with `options.head`
 * when given); `onChange(items)` follows progress.
 */
export function addCards(list, files, options, onChange) {
  const items = [];
  // Newest drop first, each drop's photos in their own order.
  const first = list.firstChild;
  for (const file of files) {
    const thumb = el('img', { alt: file.name || 'image', src: URL.createObjectURL(file) });
    // A file the browser cannot show (HEIC, TIFF, not an image): a plain tile, not a broken-image icon.
    thumb.onerror = () => thumb.replaceWith(el('div', { className: 'no-thumb', ariaHidden: 'true' }));
    const card = el('li', { className: 'card' }, [thumb, el('div', { className: 'body' })]);
    const item = { file, card, state: 'waiting', progress: 0, result: null, error: '', head: options.head, topK: options.topK };
    items.push(item);
    all.push(item);
    list.insertBefore(card, first);
    if (file.size > state.maxBytes) {
      item.state = 'error';
      item.error = t('tooLarge', { size: (file.size / 1048576).toFixed(1), mb: Math.round(state.maxBytes / 1048576) });
    } else {
      queue.push(item);
    }
    render(item);
  }
  onChange(items);
  pump(() => onChange(items));
  return items;
}

/** Redraws every card (after a language change). */
export function renderAll() {
  all.forEach(render);
}

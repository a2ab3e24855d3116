// The Teach view: make a head, name its classes, give each a few photos, train it, see how well it learned
// (held-out accuracy and a confusion matrix), then try it on new photos ("unknown" shown as such).
import { $, api, apiFetch, el, errorText, messageLine, onLanguage, photoCount, refusalCode, rovingFocus, state, t, tooLargeVars, touchScreen } from './common.js';
import { addCards, cardsIn, clearCards, summaryOf } from './cards.js';
import { drawTrainingReport } from './training-report.js';
import { thumbnailCache } from './thumbnails.js';
import { uploadBatches } from './upload-batches.js';

// `progress`: each class's upload line; `uploading`: uploads running.
const view = { head: null, detail: null, busy: false, progress: new Map(), uploading: 0, onHeadsChanged: () => {} };
const thumbs = thumbnailCache();
const path = (name) => `v1/heads/${encodeURIComponent(name)}`;

const say = messageLine('teach-message');
// What Train did, beside the button (the view's own line can be screens above it).
const sayTrain = messageLine('train-status');
const sayTry = messageLine('try-status');
/** What the server takes as a head name (server/heads.ts): 1–64 letters, digits, spaces, _ . -, starting with a letter or digit. */
const HEAD_NAME = /^[\p{L}\p{N}][\p{L}\p{N} _.-]{0,63}$/u;

async function loadHeads(select) {
  let heads = [];
  let refused = false;
  try {
    heads = (await api('v1/heads')).heads.filter((h) => h.source === 'api');
  } catch (err) {
    // Refused (no key, a wrong one) or unreachable: the heads are unknown, not absent; the message says why.
    refused = true;
    say(err, true, err.status === 401 ? undefined : () => reloadTeach());
  }
  const list = $('head-select');
  list.replaceChildren(...heads.map((h) => el('option', { value: h.name, textContent: h.name })));
  $('head-picker').hidden = heads.length === 0;
  $('no-heads').hidden = refused || heads.length > 0;
  // The head open before (in this tab, across a reload), else the first.
  const remembered = sessionStorage.getItem('teachHead');
  const known = (name) => name !== null && heads.some((h) => h.name === name);
  const next = select ?? (known(view.head) ? view.head : known(remembered) ? remembered : heads[0]?.name ?? null);
  if (next) list.value = next;
  await openHead(next);
}

async function openHead(name) {
  if (name !== view.head) {
    view.progress.clear();
    // What was said about the other head ("a class of that name already") is not about this one (a refusal that
    // leaves no head open, as a missing API key, stays said).
    if (name) say('');
    sayTrain('');
    // Answers of another head (or none) are not this head's: the Try zone starts empty.
    clearCards($('try-results'));
    updateTry();
  }
  view.head = name;
  if (name) sessionStorage.setItem('teachHead', name);
  $('teach-head').hidden = !name;
  if (!name) return;
  try {
    view.detail = await api(path(name));
  } catch (err) {
    say(err, true);
    return;
  }
  drawHead();
}

/** A photo's thumbnail, fetched once: redrawing reuses it. */
const thumbnail = (img, id) => thumbs.show(img, `${view.head}/${id}`, `${path(view.head)}/examples/${id}/thumbnail`);

/** Why Train cannot run now, or null. */
function cannotTrain(d) {
  if (d.classes.length < 2) return () => t('needTwoClasses');
  const empty = d.classes.filter((c) => c.photos === 0).map((c) => `“${c.name}”`);
  if (empty.length) return () => t('needPhotosIn', { names: empty.join(t('nameSep')) });
  if (view.uploading > 0) return () => t('waitForUploads');
  return null;
}

function drawHead() {
  const d = view.detail;
  // The thumbnails of photos no longer shown are let go.
  const shown = new Set((d.examples ?? []).map((e) => `${view.head}/${e.id}`));
  thumbs.forget((key) => shown.has(key));
  const list = $('classes');
  // Redrawing replaces the buttons: focus goes back to the same one, or near where it was (never to <body>).
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = focused?.dataset.focus ?? null;
  const focusClass = focused?.closest('.class')?.dataset.class ?? null;
  const photoButtons = [...(focused?.closest('.thumbs')?.querySelectorAll('button') ?? [])];
  const at = photoButtons.indexOf(focused);
  const nextPhoto = (photoButtons[at + 1] ?? photoButtons[at - 1])?.dataset.focus ?? null;
  list.replaceChildren();
  // Photos that more than one class has (a photo in two classes teaches neither): said under each, while it is so.
  const classesOf = new Map();
  for (const e of d.examples ?? []) {
    if (!classesOf.has(e.version)) classesOf.set(e.version, new Set());
    classesOf.get(e.version).add(e.class);
  }
  for (const c of d.classes) {
    const photos = (d.examples ?? []).filter((e) => e.class === c.name);
    const shared = photos.map((p) => ({ name: p.name, others: [...(classesOf.get(p.version) ?? [])].filter((o) => o !== c.name) })).filter((p) => p.others.length);
    const sharedLine = el('p', { className: 'status class-shared', textContent: shared.length ? t('alsoIn', { list: shared.map((p) => t('named', { name: p.name, what: p.others.map((o) => `“${o}”`).join(t('nameSep')) })).join('\n') }) : '' });
    sharedLine.setAttribute('role', 'status');
    const input = el('input', { type: 'file', accept: 'image/*', multiple: true, hidden: true });
    input.addEventListener('change', () => {
      addPhotos(c.name, [...input.files]);
      input.value = '';
    });
    const addButton = el('button', { type: 'button', className: 'secondary', textContent: t('addPhotos') });
    addButton.dataset.focus = `add:${c.name}`;
    addButton.addEventListener('click', () => input.click());
    const removeClass = el('button', { type: 'button', className: 'icon', textContent: '×' });
    removeClass.dataset.focus = `remove-class:${c.name}`;
    removeClass.setAttribute('aria-label', t('removeClass', { name: c.name }));
    removeClass.addEventListener('click', () => {
      if (c.photos > 0 && !confirm(t('confirmDeleteClass', { name: c.name, photos: photoCount(c.photos) }))) return;
      change(api(`${path(view.head)}/classes/${encodeURIComponent(c.name)}`, { method: 'DELETE' }));
    });
    const grid = el('ul', { className: 'thumbs' });
    for (const p of photos) {
      const img = el('img', { alt: p.name, width: 80, height: 80 });
      thumbnail(img, p.id);
      const remove = el('button', { type: 'button', className: 'icon', textContent: '×' });
      remove.dataset.focus = `remove-photo:${p.id}`;
      remove.setAttribute('aria-label', t('removePhoto', { name: p.name }));
      remove.addEventListener('click', () => change(api(`${path(view.head)}/examples/${p.id}`, { method: 'DELETE' })));
      grid.append(el('li', {}, [img, remove]));
    }
    rovingFocus(grid);
    // This class's uploads: how far they are, then what was not added (worded at each drawing, so in the current language).
    const progress = view.progress.get(c.name);
    const status = el('p', { className: 'status class-status', textContent: progress?.words() ?? '' });
    status.setAttribute('role', progress?.alert ? 'alert' : 'status');
    const item = el('li', { className: 'class' }, [
      el('div', { className: 'class-head' }, [el('h3', { textContent: c.name }), el('span', { className: 'class-actions' }, [el('span', { className: 'count', textContent: photoCount(c.photos) }), addButton, removeClass]), input]),
      status,
      sharedLine,
      grid,
    ]);
    item.dataset.class = c.name;
    item.addEventListener('dragover', (e) => {
      e.preventDefault();
      item.classList.add('over');
    });
    item.addEventListener('dragleave', (e) => {
      if (!item.contains(e.relatedTarget)) item.classList.remove('over');
    });
    item.addEventListener('drop', (e) => {
      e.preventDefault();
      item.classList.remove('over');
      const files = [...(e.dataTransfer?.files ?? [])];
      // A thumbnail dragged from another class, or text: nothing to add, and said so rather than nothing.
      if (!files.length) return say(() => t('dropPhotoFiles'), true);
      addPhotos(c.name, files);
    });
    list.append(item);
  }
  const foreign = d.model && !d.model.current;
  const why = foreign ? null : cannotTrain(d);
  // While training, the button stays focusable (aria-disabled): a disabled button would drop the focus.
  $('train').disabled = foreign || why !== null;
  // A greyed-out Train says why, on screen.
  const hint = $('train-hint');
  hint.hidden = why === null;
  hint.textContent = why ? why() : '';
  $('train').setAttribute('aria-disabled', String(view.busy));
  // Nothing to download before training (the server answers HEAD_NOT_TRAINED).
  $('download').disabled = !d.trained;
  $('new-class').hidden = foreign;
  // Trying photos on it would only be refused: "Try it" comes once the head is trained (on this model).
  $('try-zone').hidden = foreign || !d.trained;
  if (foreign) {
    for (const b of list.querySelectorAll('button')) b.disabled = true;
    say(() => t('otherModel'), true);
  }
  if (focusKey) {
    const find = (key) => (key ? list.querySelector(`[data-focus="${CSS.escape(key)}"]`) : null);
    const sameClass = [...list.querySelectorAll('.class')].find((i) => i.dataset.class === focusClass);
    (find(focusKey) ?? find(nextPhoto) ?? sameClass?.querySelector('[data-focus^="add:"]') ?? $('new-class-name')).focus();
  }
  drawTrainingReport($('training'), view.detail, view.busy);
}

/** Says why an action failed; a head or class deleted meanwhile (in another tab) reloads the view and says so. */
async function failed(err) {
  if (err.code === 'NOT_FOUND') {
    await loadHeads();
    say(() => t('goneElsewhere'), true);
    return;
  }
  say(err, true);
}

/** Runs an API change, then redraws the head from the server's answer. */
async function change(promise) {
  try {
    const detail = await promise;
    await openHead(view.head);
    // A change that worked clears the message of one that did not.
    say('');
    sayTrain('');
    return detail;
  } catch (err) {
    await failed(err);
    return null;
  }
}

/** Shows a class's upload line now, without redrawing the head. */
function showProgress(className, words, alert = false) {
  if (words) view.progress.set(className, { words, alert });
  else view.progress.delete(className);
  const line = [...$('classes').querySelectorAll('.class')].find((i) => i.dataset.class === className)?.querySelector('.class-status');
  if (!line) return;
  line.textContent = words ? words() : '';
  line.setAttribute('role', alert ? 'alert' : 'status');
}

async function addPhotos(className, files) {
  if (!files.length || !view.head) return;
  const head = view.head;
  const name = (f) => f.name || 'photo';
  const { batches, tooLarge } = uploadBatches(files);
  // Files the server could not use are named with their reason, in the page's language; the others are added.
  const refused = tooLarge.map((f) => ({ name: name(f), code: 'FILE_TOO_LARGE', vars: tooLargeVars(f) }));
  let sent = 0;
  // Train waits for the uploads (it would train on part of the photos); said beside it.
  view.uploading++;
  // A message about an earlier action ("a class of that name already") gives way to this one's progress.
  say('');
  sayTrain('');
  drawHead();
  try {
    for (const batch of batches) {
      const done = sent;
      showProgress(className, () => t('uploadingCount', { done, total: files.length }));
      const form = new FormData();
      for (const f of batch) form.append('file', f, name(f));
      try {
        const answer = await api(`${path(head)}/examples?class=${encodeURIComponent(className)}`, { method: 'POST', body: form });
        refused.push(...(answer?.refused ?? []));
      } catch (err) {
        if (Array.isArray(err.refused)) {
          // Nothing of this upload could be used: each file named with its own reason.
          refused.push(...err.refused);
        } else if (/^IMAGE_/.test(err.code ?? '')) {
          refused.push(...batch.map((f) => ({ name: name(f), code: err.code })));
        } else {
          showProgress(className, null);
          if (err.code !== 'NOT_FOUND') await openHead(view.head);
          await failed(err);
          return;
        }
      }
      sent += batch.length;
    }
  } finally {
    view.uploading--;
    if (view.detail) drawHead();
  }
  if (view.head !== head) return;
  const list = () => refused.map((r) => t('named', { name: r.name, what: errorText(refusalCode(r.code, r), r.vars) })).join('\n');
  showProgress(className, refused.length ? () => t('notAdded', { list: list() }) : null, refused.length > 0);
  await openHead(view.head);
}

async function train() {
  if (view.busy) return;
  view.busy = true;
  // What earlier uploads left out stays under its class (its reasons are not lost), no longer as an alert: training moves on from it.
  for (const said of view.progress.values()) said.alert = false;
  drawHead();
  say('');
  sayTrain(() => t('training'));
  try {
    view.detail = { ...view.detail, ...(await api(`${path(view.head)}/train`, { method: 'POST' })) };
    view.busy = false;
    await openHead(view.head);
    sayTrain(() => t('trainDone'));
    // The Try zone's line starts afresh with the trained head.
    updateTry();
    view.onHeadsChanged();
    $('train').focus();
  } catch (err) {
    view.busy = false;
    drawHead();
    if (err.code === 'NOT_FOUND') await failed(err);
    else sayTrain(err, true);
  }
}

/** Reloads the Teach view (after the API key changes). */
export function reloadTeach() {
  say('');
  if (location.hash === '#teach') loadHeads();
}

/** Wires the Teach view; `onHeadsChanged` runs after a head is trained or deleted. */
export function setupTeach({ onHeadsChanged }) {
  // Nothing is dropped on a phone: the Try zone's title offers what it can do.
  if (touchScreen()) $('try-title').dataset.i18n = 'tryItTouch';
  view.onHeadsChanged = onHeadsChanged;
  $('new-head').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = $('new-head-name').value.trim();
    // A name the server would refuse (it names the head in URLs): said in the page's language, with what a name may be.
    if (!HEAD_NAME.test(name.normalize('NFC'))) {
      say(() => t('badHeadName'), true);
      $('new-head-name').focus();
      return;
    }
    // A head of this name here already: said in the page's language (the server would refuse it too).
    if ([...$('head-select').options].some((o) => o.value === name.normalize('NFC'))) {
      say(() => t('headExists', { name }), true);
      $('new-head-name').focus();
      return;
    }
    try {
      await api('v1/heads', { method: 'POST', json: { name, classes: [] } });
      $('new-head-name').value = '';
      say('');
      await loadHeads(name);
      $('new-class-name').focus();
    } catch (err) {
      say(err, true);
      $('new-head-name').focus();
    }
  });
  $('head-select').addEventListener('change', () => openHead($('head-select').value));
  // A message about the name typed ("already exists", "not a name") is no longer true once the name changes.
  for (const id of ['new-head-name', 'new-class-name']) $(id).addEventListener('input', () => say(''));
  $('new-class').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = $('new-class-name').value.trim();
    // A class the head has already: said, not silently ignored (the server takes it again as a no-op).
    if (view.detail?.classes.some((c) => c.name === name.normalize('NFC'))) {
      say(() => t('classExists', { name }), true);
      return;
    }
    const done = await change(api(`${path(view.head)}/classes`, { method: 'POST', json: { name } }));
    if (done) {
      $('new-class-name').value = '';
      say('');
    }
    $('new-class-name').focus();
  });
  $('train').addEventListener('click', train);
  $('delete-head').addEventListener('click', async () => {
    if (!confirm(t('confirmDelete', { name: view.head }))) return;
    try {
      const deleted = view.head;
      await api(path(deleted), { method: 'DELETE' });
      view.head = null;
      sessionStorage.removeItem('teachHead');
      await loadHeads();
      view.onHeadsChanged();
      // Said, and the focus on the head picker (not on the next head's Delete button).
      say(() => t('headDeleted', { name: deleted }));
      ($('head-picker').hidden ? $('new-head-name') : $('head-select')).focus();
    } catch (err) {
      say(err, true);
    }
  });
  $('download').addEventListener('click', async () => {
    try {
      const res = await apiFetch(`${path(view.head)}/file`);
      const a = el('a', { href: URL.createObjectURL(await res.blob()), download: `${view.head}.head.json` });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    } catch (err) {
      say(err, true);
    }
  });
  $('try-clear').addEventListener('click', () => {
    clearCards($('try-results'));
    updateTry();
    $('try-pick').focus();
  });
  const tryFiles = $('try-files');
  $('try-pick').addEventListener('click', () => tryFiles.click());
  tryFiles.addEventListener('change', () => {
    tryIt([...tryFiles.files]);
    tryFiles.value = '';
  });
  const zone = $('try-zone');
  zone.addEventListener('dragover', (e) => e.preventDefault());
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    const files = [...(e.dataTransfer?.files ?? [])];
    if (!files.length) return say(() => t('dropPhotoFiles'), true);
    tryIt(files);
  });
  onLanguage(() => {
    if (view.detail) drawHead();
  });
  window.addEventListener('hashchange', () => {
    if (location.hash === '#teach') loadHeads();
  });
  if (location.hash === '#teach') loadHeads();
}

function tryIt(files) {
  if (!files.length || !view.head) return;
  // An untrained head cannot answer: say so once, beside the button, instead of on every photo.
  if (!view.detail?.trained) {
    sayTry(() => errorText('HEAD_NOT_TRAINED'), true);
    return;
  }
  addCards($('try-results'), files, { topK: 5, head: view.head }, updateTry);
  updateTry();
}

/** The Try zone's status line (read by screen readers: the newest answer itself) and its Clear all. */
function updateTry() {
  sayTry(() => summaryOf($('try-results')));
  $('try-clear').hidden = cardsIn($('try-results')).length === 0;
}

// resnet-serve web page: the Recognise view (pick, drop, paste or photograph images; each gets a card with
// the top labels, from the model or from a trained head) and the Teach view (teach.js). Texts in English and 中文.
import { $, api, authHeaders, el, onLanguage, state, t, touchScreen } from './common.js';
import { addCards, cardsIn, clearCards, renderAll, retryableCards, retryFailed, setLabelCount, summaryOf } from './cards.js';
import { reloadTeach, setupTeach } from './teach.js';
import { clearLibrary, hasLibrary, loadLibrary, setupLibrary } from './library.js';
import { setupLarge } from './enlarge.js';

function applyLanguage() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t('tab', { title: t('title') });
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n, { mb: Math.round(state.maxBytes / 1048576) });
  for (const node of document.querySelectorAll('[data-i18n-label]')) node.setAttribute('aria-label', t(node.dataset.i18nLabel));
  for (const b of document.querySelectorAll('.lang button')) b.setAttribute('aria-pressed', String(b.dataset.lang === state.lang));
  document.querySelector('nav.views')?.setAttribute('aria-label', t('views'));
  if (state.model) $('model').textContent = t('model', { name: state.model.name, sha: state.model.sha256.slice(0, 12) });
  renderAll();
  updateStatus();
  describeAnswers();
  for (const fn of state.listeners) fn();
}

/** The status line (a live region): progress, then the newest answer itself. */
function updateStatus() {
  const items = cardsIn($('results'));
  $('status').textContent = summaryOf($('results'));
  $('clear').hidden = items.length === 0;
  // One Retry for all that failed on the way (the server was down, say); a single one has its own on its card.
  // Not while the key prompt asks: the right key retries them itself.
  const again = retryableCards($('results')).length;
  const failed = items.filter((i) => i.state === 'error').length;
  $('retry-all').hidden = again < 2 || !$('key-form').hidden;
  $('retry-all').textContent = t(again === failed ? 'retryAll' : 'retrySome', { n: again, failed });
  document.body.classList.toggle('has-results', items.length > 0);
}

function addFiles(files) {
  if (!files.length) return;
  const head = $('answer-with').value || undefined;
  addCards($('results'), files, { topK: $('topk').value, head }, () => {
    updateStatus();
    // A head deleted elsewhere leaves the menu: offered no more.
    if (cardsIn($('results')).some((i) => i.errorCode === 'HEAD_GONE' && !i.menuRefreshed && (i.menuRefreshed = true))) refreshHeadChoices();
  });
  updateStatus();
}

/** Shows the API key prompt at the top (after a 401), or hides it. */
function askForKey(show, wrong = false) {
  const form = $('key-form');
  const appearing = show && form.hidden;
  form.hidden = !show;
  updateStatus();
  $('key').setAttribute('aria-invalid', String(wrong));
  $('key-error').textContent = wrong ? t('keyWrong') : '';
  // Only a key the server took can be forgotten: while the prompt asks, the field itself holds the key.
  $('forget-key').hidden = show || !state.key;
  // Asked for by an action further down (Train on a phone), the prompt comes on screen with the focus in it: once, not on every refusal.
  // After the refused action's own handler has run (it may put the focus back on its field).
  if (appearing && document.activeElement !== document.body && document.activeElement) {
    setTimeout(() => {
      if (form.hidden) return;
      form.scrollIntoView({ block: 'nearest' });
      $('key').focus({ preventScroll: true });
    }, 0);
  }
}

/** Shows the view named by the address (#teach, #library) and marks its tab. */
function showView() {
  const view = location.hash === '#teach' ? 'teach' : location.hash === '#library' ? 'library' : 'recognise';
  // A dialog left open by Back would stay modal over a view it is not part of, and take every click.
  for (const dialog of document.querySelectorAll('dialog[open]')) if (!dialog.closest(`#view-${view}`)) dialog.close();
  $('view-recognise').hidden = view !== 'recognise';
  $('view-teach').hidden = view !== 'teach';
  $('view-library').hidden = view !== 'library';
  if (view === 'library') loadLibrary();
  for (const a of document.querySelectorAll('.views a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** Fills "Answer with" with the trained heads (kept when still there). */
export async function refreshHeadChoices() {
  const select = $('answer-with');
  const chosen = select.value;
  let heads = [];
  try {
    // A head made on another model cannot answer here (the server refuses it): the Teach view says so, this menu leaves it out.
    heads = (await api('v1/heads')).heads.filter((h) => h.trained && h.model?.current !== false);
  } catch {
    // Without access to heads the page still recognises with the model.
  }
  // Unchanged, the menu is left alone: rebuilding it would close it on a phone while it is open.
  const offered = JSON.stringify([state.lang, ...heads.map((h) => h.name)]);
  if (select.dataset.offered !== offered) {
    select.dataset.offered = offered;
    select.replaceChildren(el('option', { value: '', textContent: t('imagenet') }), ...heads.map((h) => el('option', { value: h.name, textContent: h.name })));
    select.value = heads.some((h) => h.name === chosen) ? chosen : '';
  }
  headClasses = new Map(heads.map((h) => [h.name, { names: h.classes.map((c) => c.name), unknown: h.training?.rejectedHeldOut !== undefined }]));
  describeAnswers();
}

let headClasses = new Map();

/** How often an open Recognise view asks for heads trained meanwhile (elsewhere: the teacher's laptop, another tab). */
const HEADS_POLL_MS = 30_000;

/** Heads trained elsewhere reach this page's menu: when it is focused, shown again, or every half minute while in view. */
function keepHeadChoicesCurrent() {
  let last = 0;
  const soon = () => {
    if (document.hidden || location.hash === '#teach' || location.hash === '#library' || Date.now() - last < 2000) return;
    last = Date.now();
    refreshHeadChoices();
  };
  $('answer-with').addEventListener('focus', soon);
  $('answer-with').addEventListener('pointerenter', soon);
  document.addEventListener('visibilitychange', soon);
  window.addEventListener('hashchange', soon);
  setInterval(soon, HEADS_POLL_MS);
}

/** The empty state says what the page recognises: ImageNet's 1000 kinds of things, or the chosen head's classes. */
function describeAnswers() {
  const head = $('answer-with').value;
  const classes = headClasses.get(head);
  const names = classes?.names.join(state.lang === 'zh' ? '、' : ', ');
  $('empty-note').textContent = head && classes ? t(classes.unknown ? 'headNote' : 'headNoteNoUnknown', { name: head, classes: names }) : t('emptyNote');
}

/** The Library tab appears when the server shows a library. */
async function showLibraryLink() {
  // The view shown keeps its tab, even while the server's answer waits for an API key.
  $('library-link').hidden = !(await hasLibrary()) && location.hash !== '#library';
}

function setup() {
  const picker = $('files');
  $('pick').addEventListener('click', () => picker.click());
  // A camera capture makes sense where there is a camera to hold: touch devices.
  const camera = $('camera');
  const touch = touchScreen();
  camera.hidden = !touch;
  // Nothing is dropped on a phone: its title offers what it can do.
  if (touch) $('drop-title').dataset.i18n = 'dropTouch';
  camera.addEventListener('click', () => $('camera-input').click());
  for (const input of [picker, $('camera-input')]) {
    input.addEventListener('change', () => { addFiles([...input.files]); input.value = ''; });
  }
  // The whole window takes drops (a photo dropped beside the box must not replace the page);
  // the highlight counts enter/leave pairs so it does not flicker over the box's buttons.
  let depth = 0;
  const drop = $('drop');
  const onRecognise = () => !$('view-recognise').hidden;
  window.addEventListener('dragenter', (e) => { e.preventDefault(); if (onRecognise() && ++depth === 1) drop.classList.add('over'); });
  window.addEventListener('dragleave', () => { if (depth > 0 && --depth === 0) drop.classList.remove('over'); });
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    drop.classList.remove('over');
    // The Teach view's class boxes take their own drops.
    if (onRecognise()) addFiles([...(e.dataTransfer?.files ?? [])]);
  });
  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (files.length && onRecognise()) addFiles(files);
  });
  $('clear').addEventListener('click', () => { clearCards($('results')); updateStatus(); $('pick').focus(); });
  $('retry-all').addEventListener('click', () => {
    const again = retryFailed($('results'));
    updateStatus();
    // The button goes once nothing waits for a retry: the focus waits on the first card sent again, as one card's Retry does.
    if (again[0]) {
      again[0].card.tabIndex = -1;
      again[0].card.focus();
    }
  });
  $('topk').addEventListener('change', () => setLabelCount($('results'), $('topk').value));
  $('answer-with').addEventListener('change', describeAnswers);
  keepHeadChoicesCurrent();
  for (const b of document.querySelectorAll('.lang button')) {
    b.addEventListener('click', () => {
      state.lang = b.dataset.lang;
      localStorage.setItem('lang', state.lang);
      applyLanguage();
      // On a phone the switch shows only the other language: the button pressed goes, the focus moves to the one left.
      if (document.activeElement === b && getComputedStyle(b).display === 'none') document.querySelector('.lang button:not([aria-pressed="true"])')?.focus();
    });
  }
  const saved = localStorage.getItem('lang');
  state.lang = saved === 'zh' || saved === 'en' ? saved : navigator.language.startsWith('zh') ? 'zh' : 'en';
  window.addEventListener('hashchange', showView);
  showView();
  setupTeach({ onHeadsChanged: refreshHeadChoices });
  setupLibrary();
  setupLarge();
  showLibraryLink();
  onLanguage(() => refreshHeadChoices());
  state.onUnauthorized = () => askForKey(true, Boolean(state.key));
  applyLanguage();
  $('key-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    state.key = $('key').value.trim();
    // Kept for this tab's reloads only once the server takes it: a refused key would be refused again after each.
    const answer = await loadModel();
    if (answer !== 'ok') {
      if (answer === 'refused') sessionStorage.removeItem('apiKey');
      return;
    }
    sessionStorage.setItem('apiKey', state.key);
    askForKey(false);
    $('forget-key').hidden = false;
    // On to the view shown: its first control (Choose photos is hidden on the others).
    const first = { 'view-recognise': 'pick', 'view-teach': 'new-head-name', 'view-library': 'library-q' };
    $(Object.entries(first).find(([v]) => !$(v).hidden)?.[1] ?? 'pick').focus();
    retryFailed($('results'));
    refreshHeadChoices();
    reloadTeach();
    showLibraryLink();
    if (location.hash === '#library') loadLibrary();
  });
  $('forget-key').addEventListener('click', () => {
    state.key = '';
    sessionStorage.removeItem('apiKey');
    $('key').value = '';
    $('forget-key').hidden = true;
    // Nothing the key opened stays on screen, nor comes back with the browser's Back: the answers, the heads, the Teach view's head and the library go with it.
    clearCards($('results'));
    updateStatus();
    clearLibrary();
    if (location.hash === '#library') location.hash = '';
    loadModel();
    refreshHeadChoices();
    reloadTeach();
    showLibraryLink();
  });
  loadModel();
}

/** Reads the model's description (and whether the key is taken): 'ok', 'refused' (401: the prompt shown) or 'unreachable'. */
async function loadModel() {
  let res;
  try {
    res = await fetch('v1/models', { headers: authHeaders() });
  } catch {
    return 'unreachable';
  }
  if (res.status === 401) {
    askForKey(true, Boolean(state.key));
    $('key').focus();
    return 'refused';
  }
  askForKey(false);
  const model = res.ok ? (await res.json())?.models?.[0] : null;
  if (model) {
    state.model = model;
    if (model.limits?.max_upload_bytes) state.maxBytes = model.limits.max_upload_bytes;
    if (model.limits?.max_files) state.maxFiles = model.limits.max_files;
    if (model.limits?.max_pixels) state.maxPixels = model.limits.max_pixels;
    applyLanguage();
  }
  return 'ok';
}

setup();

// resnet-serve web page: the Recognise view (pick, drop, paste or photograph images; each gets a card with
// the top labels, from the model or from a trained head) and the Teach view (teach.js). Texts in English and 中文.
import { $, api, authHeaders, el, onLanguage, state, t } from './common.js';
import { addCards, renderAll } from './cards.js';
import { reloadTeach, setupTeach } from './teach.js';
import { hasLibrary, loadLibrary, setupLibrary } from './library.js';

let items = [];

function applyLanguage() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n, { mb: Math.round(state.maxBytes / 1048576) });
  for (const b of document.querySelectorAll('.lang button')) b.setAttribute('aria-pressed', String(b.dataset.lang === state.lang));
  if (state.model) $('model').textContent = t('model', { name: state.model.name, sha: state.model.sha256.slice(0, 12) });
  renderAll();
  updateStatus();
  for (const fn of state.listeners) fn();
}

function updateStatus() {
  const finished = items.filter((i) => i.state === 'done' || i.state === 'error').length;
  $('status').textContent = items.length ? t('done', { n: finished, total: items.length }) : '';
}

function addFiles(files) {
  const head = $('answer-with').value || undefined;
  const added = addCards($('results'), files, { topK: $('topk').value, head }, () => updateStatus());
  items = [...items, ...added];
  updateStatus();
}

/** Shows the view named by the address (#teach, #library) and marks its tab. */
function showView() {
  const view = location.hash === '#teach' ? 'teach' : location.hash === '#library' ? 'library' : 'recognise';
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
    heads = (await api('/v1/heads')).heads.filter((h) => h.trained);
  } catch {
    // Without access to heads the page still recognises with the model.
  }
  select.replaceChildren(el('option', { value: '', textContent: t('imagenet') }), ...heads.map((h) => el('option', { value: h.name, textContent: h.name })));
  select.value = heads.some((h) => h.name === chosen) ? chosen : '';
}

/** The Library tab appears when the server shows a library. */
async function showLibraryLink() {
  $('library-link').hidden = !(await hasLibrary());
}

function setup() {
  const drop = $('drop');
  const picker = $('files');
  $('pick').addEventListener('click', (e) => { e.stopPropagation(); picker.click(); });
  $('camera').addEventListener('click', (e) => { e.stopPropagation(); $('camera-input').click(); });
  drop.addEventListener('click', () => picker.click());
  drop.addEventListener('keydown', (e) => {
    if ((e.key === 'Enter' || e.key === ' ') && e.target === drop) { e.preventDefault(); picker.click(); }
  });
  for (const input of [picker, $('camera-input')]) {
    input.addEventListener('change', () => { addFiles([...input.files]); input.value = ''; });
  }
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    addFiles([...(e.dataTransfer?.files ?? [])]);
  });
  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (files.length && !$('view-recognise').hidden) addFiles(files);
  });
  for (const b of document.querySelectorAll('.lang button')) {
    b.addEventListener('click', () => { state.lang = b.dataset.lang; localStorage.setItem('lang', state.lang); applyLanguage(); });
  }
  const saved = localStorage.getItem('lang');
  state.lang = saved === 'zh' || saved === 'en' ? saved : navigator.language.startsWith('zh') ? 'zh' : 'en';
  window.addEventListener('hashchange', showView);
  showView();
  setupTeach({ onHeadsChanged: refreshHeadChoices });
  setupLibrary();
  showLibraryLink();
  onLanguage(() => refreshHeadChoices());
  applyLanguage();
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.key = $('key').value;
    sessionStorage.setItem('apiKey', state.key);
    loadModel();
    refreshHeadChoices();
    reloadTeach();
    showLibraryLink();
    if (location.hash === '#library') loadLibrary();
  });
  loadModel();
}

function loadModel() {
  fetch('/v1/models', { headers: authHeaders() }).then((r) => {
    $('key-form').hidden = r.status !== 401;
    return r.ok ? r.json() : null;
  }).then((info) => {
    const model = info?.models?.[0];
    if (!model) return;
    state.model = model;
    if (model.limits?.max_upload_bytes) state.maxBytes = model.limits.max_upload_bytes;
    applyLanguage();
  }).catch(() => {});
}

setup();

// The Library view (serve --library DIR): a grid of the library's photos, search in English or Chinese,
// a category filter, a photo's labels and look-alikes in a dialog, and the groups of duplicates. Read-only.
import { $, TEXT, api, authHeaders, el, messageLine, onLanguage, state, t } from './common.js';
import { thumbnailCache } from './thumbnails.js';

Object.assign(TEXT.en, {
  library: 'Library', libraryTitle: 'Photo library', librarySummary: '{photos} photos in {folders}, tagged with {model}', librarySummaryOne: '1 photo in {folders}, tagged with {model}',
  searchLabel: 'Search', searchHint: 'dog, beach, 汽车…', category: 'Category', allCategories: 'All categories', searchButton: 'Search',
  photosTab: 'Photos', dupesTab: 'Duplicates', more: 'Show more', found: '{n} photos', foundOne: '1 photo', foundOf: '{shown} of {n} photos',
  nothing: 'No photos match.', unknownWords: 'No photo can match {words}: no class, category or synonym has {which}.', unknownWordsGuess: 'No photo can match {words}: no class, category or synonym has {which}. Did you mean {guesses}?', thatWord: 'that word', thoseWords: 'those words', lookAlikes: 'Look-alikes', close: 'Close',
  noDupes: 'No duplicates found.', exact: 'Exact copies (same bytes)', near: 'Near duplicates (pictures {pct} alike)', groups: '{n} groups of duplicates. Nothing is ever deleted here.', group: 'One group of duplicates. Nothing is ever deleted here.',
  open: 'Open {name}', finding: 'Looking for duplicates…', categoriesOf: 'Categories', alike: '{pct} alike in content', copies: '{n} copies', sameBytes: 'an exact copy', exactCopies: '{n} exact copies',
  openTile: 'Open {name}: {caption}', categoryCount: '{name} ({n})',
});
Object.assign(TEXT.zh, {
  library: '照片库', libraryTitle: '照片库', librarySummary: '{folders} 中有 {photos} 张照片，由 {model} 标注', librarySummaryOne: '{folders} 中有 1 张照片，由 {model} 标注',
  searchLabel: '搜索', searchHint: '狗、海滩、car…', category: '分类', allCategories: '全部分类', searchButton: '搜索',
  photosTab: '照片', dupesTab: '重复照片', more: '显示更多', found: '{n} 张照片', foundOne: '1 张照片', foundOf: '{n} 张中的 {shown} 张',
  nothing: '没有匹配的照片。', unknownWords: '没有照片能匹配{words}：没有哪个类别、分类或同义词含有{which}。', unknownWordsGuess: '没有照片能匹配{words}：没有哪个类别、分类或同义词含有{which}。你要找的是不是 {guesses}？', thatWord: '这个词', thoseWords: '这些词', lookAlikes: '相似照片', close: '关闭',
  noDupes: '没有发现重复照片。', exact: '完全相同（字节一致）', near: '近似重复（画面相似度 {pct}）', groups: '{n} 组重复照片。这里不会删除任何照片。', group: '1 组重复照片。这里不会删除任何照片。',
  open: '打开 {name}', finding: '正在查找重复照片…', categoriesOf: '分类', alike: '内容相似度 {pct}', copies: '{n} 份相同', sameBytes: '完全相同的副本', exactCopies: '{n} 份完全相同的副本',
  openTile: '打开 {name}：{caption}', categoryCount: '{name}（{n}）',
});

const view = { summary: null, query: '', category: '', offset: 0, total: 0, photos: [], tab: 'photos', current: null };
const thumbs = thumbnailCache();
const PAGE = 60;
const name = (x) => (state.lang === 'zh' ? x.zh : x.en);
const pct = (score) => `${Math.round(score * 100)}%`;
// Similarities to a tenth, rounded down, as the CLI says them: 99.8% is not 100%.
const alikePct = (similarity) => `${(Math.floor(similarity * 1000) / 10).toFixed(1)}%`;
/** Folder and name: copies in different folders are told apart. */
const folderAndName = (path) => path.split('/').slice(-2).join('/');

/** Look-alikes with the same content once, counting the copies. */
function distinctContent(photos) {
  const byVersion = new Map();
  for (const p of photos) {
    const first = byVersion.get(p.version);
    if (first) first.copies++;
    else byVersion.set(p.version, { ...p, copies: 1 });
  }
  return [...byVersion.values()];
}

const say = messageLine('library-message');

/**
 * Fetches a thumbnail with the API key (an <img src> cannot send it); cached per photo, content version and
 * size, so a photo edited and tagged again shows its new content (the address changes with it, past the
 * browser's cache too).
 */
function thumbnail(img, photo, size = 320) {
  return thumbs.show(img, `${photo.id}:${photo.version}:${size}`, `v1/library/photos/${photo.id}/thumbnail?size=${size}&v=${encodeURIComponent(photo.version ?? '')}`);
}

/**
 * A photo's tile: its thumbnail and a caption, by default its best matching
 * label and score, else `[text, tail]`; the tail (a score, a size) is never
 * cut off, the text gives way with an ellipsis.
 */
function tile(photo, onOpen, [text, tail] = []) {
  const top = photo.matched?.[0] ?? photo.labels[0];
  const [main, end] = text === undefined ? (top ? [name(top), pct(top.score)] : ['', '']) : [text, tail ?? ''];
  const caption = [main, end].filter(Boolean).join(' ');
  const img = el('img', { alt: '', width: 160, height: 160, loading: 'lazy' });
  thumbnail(img, photo);
  // A path may break before each folder's /, a name after _ and before its extension, before it breaks anywhere else.
  const words = main.split(/(?=\/)|(?<=_)|(?=\.[^./]+$)/).flatMap((part, i) => (i ? [document.createElement('wbr'), part] : [part]));
  const parts = [el('span', { className: 'caption-text' }, words), ...(end ? [el('span', { className: 'caption-tail', textContent: end })] : [])];
  const button = el('button', { type: 'button', className: 'photo' }, [img, el('span', { className: 'caption' }, parts)]);
  button.setAttribute('aria-label', t('openTile', { name: photo.path, caption }));
  // A caption cut short (a long class name on a narrow tile) is read whole on hover, with the file it names.
  button.title = caption ? `${caption}\n${photo.path}` : photo.path;
  button.addEventListener('click', () => onOpen(photo.id));
  return el('li', {}, [button]);
}

function drawGrid() {
  const grid = $('gallery');
  grid.replaceChildren(...view.photos.map((p) => tile(p, openPhoto)));
  $('more').hidden = view.photos.length >= view.total;
  if (view.query || view.category) say(() => (view.total ? t(view.photos.length < view.total ? 'foundOf' : view.total === 1 ? 'foundOne' : 'found', { shown: view.photos.length, n: view.total }) : t('nothing')));
  else say('');
}

async function load(append = false) {
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(append ? view.photos.length : 0) });
  if (view.query) params.set('q', view.query);
  if (view.category) params.set('category', view.category);
  try {
    const page = await api(`v1/library/photos?${params}`);
    if (page.unknown?.length) {
      view.photos = [];
      view.total = 0;
      drawGrid();
      const guesses = Object.values(page.suggestions ?? {});
      const words = page.unknown.map((w) => `“${w}”`).join(t('nameSep'));
      say(() => t(guesses.length ? 'unknownWordsGuess' : 'unknownWords', { words, which: t(page.unknown.length === 1 ? 'thatWord' : 'thoseWords'), guesses: guesses.join(', ') }));
      return;
    }
    view.total = page.total;
    view.photos = append ? [...view.photos, ...page.photos] : page.photos;
    drawGrid();
  } catch (err) {
    // A refused search shows no photos: what is on screen would look like its answer.
    if (!append) {
      view.photos = [];
      view.total = 0;
      drawGrid();
    }
    say(err, true);
  }
}

/** A file path whose lines break after "/", "_", "-" or a space, so a narrow screen never splits "cat.JPEG" inside. */
function breakablePath(path) {
  return path.split(/(?<=[/_ -])/).flatMap((part, i) => (i ? [document.createElement('wbr'), part] : [part]));
}

async function openPhoto(id) {
  const dialog = $('photo-dialog');
  try {
    const [photo, like] = await Promise.all([api(`v1/library/photos/${id}`), api(`v1/library/photos/${id}/like?limit=8`).catch(() => ({ photos: [] }))]);
    view.current = photo;
    $('photo-title').replaceChildren(...breakablePath(photo.path));
    const preview = $('photo-preview');
    preview.removeAttribute('src');
    preview.alt = photo.labels[0] ? name(photo.labels[0]) : photo.path;
    thumbnail(preview, photo, 1024);
    $('photo-labels').replaceChildren(
      // Laid out like a card's answers: the label and its percentage, the bar below them.
      ...photo.labels.map((l) => el('li', { className: 'pred' }, [el('span', { className: 'label', textContent: name(l) }), el('span', { className: 'pct', textContent: pct(l.score) }), el('span', { className: 'track' }, [Object.assign(el('span', { className: 'fill' }), { style: `width:${Math.max(0.5, l.score * 100)}%` })])])),
    );
    $('photo-categories').textContent = t('named', { name: t('categoriesOf'), what: photo.categories.map((c) => `${name(c)} ${pct(c.score)}`).join(t('listSep')) });
    // A copy of this very photo (same bytes) is said as such, not as "100.0% alike".
    const alike = (p) => {
      if (p.version === photo.version) return p.copies > 1 ? t('exactCopies', { n: p.copies }) : t('sameBytes');
      return [t('alike', { pct: alikePct(p.similarity) }), p.copies > 1 ? t('copies', { n: p.copies }) : ''].filter(Boolean).join(' · ');
    };
    $('photo-like').replaceChildren(...distinctContent(like.photos).map((p) => tile(p, openPhoto, [p.labels[0] ? name(p.labels[0]) : '', alike(p)])));
    if (!dialog.open) dialog.showModal();
    $('photo-close').focus();
  } catch (err) {
    say(err, true);
  }
}

async function showDupes() {
  const box = $('dupes');
  box.replaceChildren(el('p', { className: 'hint', textContent: t('finding') }), el('progress'));
  try {
    const { groups } = await api('v1/library/duplicates');
    box.replaceChildren(el('p', { className: 'hint', textContent: groups.length ? t(groups.length === 1 ? 'group' : 'groups', { n: groups.length }) : t('noDupes') }));
    for (const g of groups) {
      const title = g.kind === 'exact' ? t('exact') : t('near', { pct: alikePct(g.similarity) });
      // In a group of near duplicates, the photos that are the same file as another there are marked, as the CLI does.
      const copies = (p) => g.kind !== 'exact' && g.photos.filter((q) => q.version === p.version).length > 1;
      const tail = (p) => [`${p.width}×${p.height}`, copies(p) ? t('sameBytes') : ''].filter(Boolean).join(' · ');
      box.append(el('section', { className: 'dupe-group' }, [el('h3', { textContent: `${title} · ${t(g.photos.length === 1 ? 'foundOne' : 'found', { n: g.photos.length })}` }), el('ul', { className: 'gallery small' }, g.photos.map((p) => tile(p, openPhoto, [folderAndName(p.path), tail(p)])))]));
    }
  } catch (err) {
    box.replaceChildren();
    say(err, true);
  }
}

/** Shows the Photos or Duplicates tab; `reload` (default) fetches the photos again for a search or category in force. */
function showTab(tab, reload = true) {
  view.tab = tab;
  $('show-photos').setAttribute('aria-pressed', String(tab === 'photos'));
  $('show-dupes').setAttribute('aria-pressed', String(tab === 'dupes'));
  $('library-photos').hidden = tab !== 'photos';
  // The duplicates are the whole library's: a search or category, which would not filter them, goes with the photos.
  $('library-search').hidden = tab !== 'photos';
  $('dupes').hidden = tab !== 'dupes';
  // The message line speaks for the tab shown: a search's message is not the duplicates' (and comes back with the photos).
  if (tab === 'dupes') {
    say('');
    showDupes();
    return;
  }
  if (!reload) return;
  // Words erased while the duplicates were shown no longer apply.
  if (takeFilter() || view.query || view.category) load();
}

/** The filter is what the search box and the category menu show now; whether that changed it. */
function takeFilter() {
  const shown = { query: $('library-q').value.trim(), category: $('library-category').value };
  const changed = shown.query !== view.query || shown.category !== view.category;
  Object.assign(view, shown);
  // Kept for this tab's reloads, as the Teach view keeps its head.
  if (shown.query || shown.category) sessionStorage.setItem('libraryFilter', JSON.stringify(shown));
  else sessionStorage.removeItem('libraryFilter');
  return changed;
}

/** The search and category of this tab's last visit (before a reload), back in the box and the menu. */
function restoreFilter() {
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem('libraryFilter') ?? 'null');
  } catch {
    // Not ours, or damaged: no filter.
  }
  view.query = typeof saved?.query === 'string' ? saved.query : '';
  view.category = typeof saved?.category === 'string' ? saved.category : '';
  $('library-q').value = view.query;
}

function drawSummary() {
  const s = view.summary;
  if (!s) return;
  $('library-summary').textContent = t(s.photos === 1 ? 'librarySummaryOne' : 'librarySummary', { photos: s.photos, folders: s.folders.join(', '), model: s.model.name });
  const select = $('library-category');
  select.replaceChildren(el('option', { value: '', textContent: t('allCategories') }), ...s.categories.map((c) => el('option', { value: c.en, textContent: t('categoryCount', { name: name(c), n: c.photos }) })));
  // The category in force (chosen, or restored after a reload); one the library no longer has is no filter.
  select.value = view.category;
  view.category = select.value;
  $('library-q').placeholder = t('searchHint');
}

/** Loads the library when the view opens; returns whether this server has one. */
export async function loadLibrary() {
  try {
    view.summary = await api('v1/library');
  } catch (err) {
    // Refused (the key forgotten, or wrong): nothing it showed before stays on screen, and the key prompt at the top says why.
    clearLibrary();
    if (err.status !== 401) say(err, true, () => loadLibrary());
    return false;
  }
  $('view-library').classList.remove('unread');
  drawSummary();
  await load();
  return true;
}

/** Forgets what the library view showed (its summary, photos, duplicates, open photo and thumbnails). */
export function clearLibrary() {
  Object.assign(view, { summary: null, photos: [], total: 0, current: null });
  thumbs.forget();
  $('library-summary').textContent = '';
  // No tabs or search before the library is read: they could only fail.
  $('view-library').classList.add('unread');
  // What was searched for goes too (a shared screen).
  sessionStorage.removeItem('libraryFilter');
  Object.assign(view, { query: '', category: '' });
  $('library-q').value = '';
  $('gallery').replaceChildren();
  $('dupes').replaceChildren();
  $('more').hidden = true;
  if ($('photo-dialog').open) $('photo-dialog').close();
  say('');
}

/** Whether this server shows a library (the nav link appears only then), as /v1/models says: asking /v1/library would leave a 404 in the console. */
export async function hasLibrary() {
  const res = await fetch('v1/models', { headers: authHeaders() }).catch(() => null);
  if (!res?.ok) return false;
  return (await res.json().catch(() => null))?.library === true;
}

/** Wires the Library view. */
export function setupLibrary() {
  restoreFilter();
  $('library-search').addEventListener('submit', (e) => {
    e.preventDefault();
    takeFilter();
    showTab('photos', false);
    load();
  });
  // The filter is what the box and the menu show now: a query erased from the box no longer applies.
  $('library-category').addEventListener('change', () => {
    takeFilter();
    // A category is a filter of photos: shown on the Photos tab, as a search is (its answer above the duplicates read as theirs).
    showTab('photos', false);
    load();
  });
  $('more').addEventListener('click', async () => {
    const before = view.photos.length;
    await load(true);
    // The button may go with the last page: the focus goes on to the first photo it brought, not to the page's top.
    $('gallery').children[before]?.querySelector('button')?.focus();
  });
  $('show-photos').addEventListener('click', () => showTab('photos'));
  $('show-dupes').addEventListener('click', () => showTab('dupes'));
  $('photo-close').addEventListener('click', () => $('photo-dialog').close());
  $('photo-dialog').addEventListener('click', (e) => {
    if (e.target === $('photo-dialog')) $('photo-dialog').close();
  });
  onLanguage(() => {
    drawSummary();
    if (view.photos.length) drawGrid();
    if (view.tab === 'dupes') showDupes();
    if (view.current && $('photo-dialog').open) openPhoto(view.current.id);
  });
}

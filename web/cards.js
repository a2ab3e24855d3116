// Result cards: one per photo, with its thumbnail (the square the model looks at), upload and analysis
// progress, then the answer as a headline with the alternatives below (or "unknown" when a head finds the
// photo unlike its training photos). Failed cards can be retried; any card removed; the list cleared.
// "Show where it looked" lays the model's class activation map over the crop. Used by both views.
import { authHeaders, el, errorText, postPhoto, refusalCode, state, t, tooLargeVars } from './common.js';
import { cardPicture, MAY_MOVE, showFirstFrame } from './card-picture.js';
import { showLarge } from './enlarge.js';

const all = [];
/** Labels asked of the server per photo: the label-count menu then shows any number up to this without asking again. */
const ASKED = 10;

/**
 * A score as the cards and the status line show it: whole percent from 10%, one decimal below. A score
 * under `bar` (where "probably" starts) is cut rather than rounded up to it: "Not sure. Maybe bees 75%"
 * would contradict a bar of 75%.
 */
export function percent(score, bar = Infinity) {
  const digits = score >= 0.1 ? 0 : 1;
  const shown = Number((score * 100).toFixed(digits));
  const scale = 10 ** digits;
  return `${(score < bar && shown >= bar * 100 ? Math.floor(score * 100 * scale) / scale : shown).toFixed(digits)}%`;
}

/** Under this many pixels on its short side (half the model's usual 224), a photo's answer comes with a note: it was enlarged. */
const SMALL_SIDE = 112;

/** Errors the same file would get again: their cards offer no Retry. */
const FINAL_ERRORS = new Set(['FILE_TOO_LARGE', 'PAYLOAD_TOO_LARGE', 'IMAGE_UNSUPPORTED', 'HEIC_UNSUPPORTED', 'IMAGE_EMPTY', 'IMAGE_CORRUPT', 'IMAGE_TOO_LARGE', 'HEAD_GONE']);

function labelOf(p) {
  return state.lang === 'zh' && p.label_zh ? p.label_zh : p.label;
}

/** What the map shows; for a photo a head called "unknown", the class is only the closest of its classes. */
function whereFor(item) {
  return t(item.result?.unknown ? 'whereForClosest' : 'whereFor', { label: explainedLabel(item) });
}

function explainedLabel(item) {
  const p = item.result?.predictions.find((x) => x.index === item.explain.cls);
  return p ? labelOf(p) : '';
}

/** The answers a card shows: as many as asked, the first always, the others from 0.05%. */
function shownPredictions(item) {
  return item.result.predictions.slice(0, Number(item.topK)).filter((p, i) => i === 0 || p.score >= 0.0005);
}

/** The heatmap's key, said on screen too (which answer it shows, what the colours measure), and how to see another answer's. */
function legend(item) {
  return [
    // On a projector the class shown must be read, not guessed from an outline (the picture's alt says the same).
    el('p', { className: 'where-for', textContent: whereFor(item), ariaHidden: 'true' }),
    legendKey(),
    button(t('enlarge'), () => enlarge(item), { className: 'secondary small enlarge' }, 'enlarge'),
    // How to see another answer's map: only where there is another answer to pick.
    ...(shownPredictions(item).length > 1 ? [el('p', { className: 'hint where-hint', textContent: t('whereHint') })] : []),
  ];
}

/** What the colours measure, from low to high. */
function legendKey() {
  return el('div', { className: 'legend', role: 'img', ariaLabel: t('legendLabel', { legend: t('legend'), low: t('legendLow'), high: t('legendHigh') }) }, [
    el('span', { className: 'legend-title', textContent: t('legendTitle', { legend: t('legend') }), ariaHidden: 'true' }),
    el('span', { textContent: t('legendLow'), ariaHidden: 'true' }),
    el('span', { className: 'scale' }),
    el('span', { textContent: t('legendHigh'), ariaHidden: 'true' }),
  ]);
}

function button(text, onClick, props = {}, focus = '') {
  const b = el('button', { type: 'button', className: 'secondary small', textContent: text, ...props });
  if (focus) b.dataset.focus = focus;
  b.addEventListener('click', onClick);
  return b;
}

/** Draws one card in its current state and language, keeping the keyboard focus on the same control. */
function render(item) {
  const { card } = item;
  const focused = card.contains(document.activeElement) ? document.activeElement.dataset.focus : undefined;
  card.dataset.state = item.state;
  // A heatmap is shown large, above the answers, so that it can be read (on a projector too).
  card.dataset.explain = item.explain.on && item.explain.url ? 'on' : 'off';
  const name = item.file.name || 'image';
  const body = el('div', { className: 'body' }, [el('p', { className: 'name', textContent: name, title: name })]);
  const actions = el('div', { className: 'actions' });
  if (item.state === 'waiting' || item.state === 'uploading' || item.state === 'analysing') {
    const text = item.state === 'uploading' ? t('uploading', { pct: item.progress }) : item.state === 'waiting' && item.busyTries ? t('busyWaiting') : t(item.state);
    const bar = el('progress', { max: 100 });
    if (item.state === 'uploading') bar.value = item.progress;
    bar.setAttribute('aria-label', text);
    body.append(el('p', { className: 'state', textContent: text }), bar);
    card.setAttribute('aria-busy', 'true');
  } else if (item.state === 'error') {
    card.removeAttribute('aria-busy');
    body.append(el('p', { className: 'state', textContent: errorText(item.errorCode, item.errorVars) }));
    if (!FINAL_ERRORS.has(item.errorCode)) actions.append(button(t('retry'), () => retry(item), { className: 'small retry' }, 'retry'));
  } else {
    card.removeAttribute('aria-busy');
    const result = item.result;
    // "Unknown" first; the classes' scores below it are only how close it came, and say so.
    if (result.unknown) body.append(el('p', { className: 'unknown', textContent: t('unknown') }), el('p', { className: 'closest', textContent: t('closest') }));
    const shown = shownPredictions(item);
    const hidden = Math.min(result.predictions.length, Number(item.topK)) - shown.length;
    const [top, ...rest] = shown;
    const pick = (p) => (item.explain.on ? () => explain(item, p) : null);
    const sure = sureAbove(item);
    const row = (p, headline) => {
      const pct = percent(p.score, headline ? sure : Infinity);
      const track = el('span', { className: 'track' }, [el('span', { className: 'fill' })]);
      track.firstChild.style.width = `${Math.max(1, p.score * 100)}%`;
      const label = el('span', { className: 'label', textContent: labelOf(p) });
      const parts = headline
        ? [el('span', { className: 'certainty', textContent: t(p.score >= sure ? 'probably' : 'notSure') }), label, el('span', { className: 'pct', textContent: pct }), track]
        : [label, el('span', { className: 'pct', textContent: pct }), track];
      const li = el('li', { className: headline ? 'pred answer' : 'pred' });
      li.dataset.index = String(p.index);
      const action = pick(p);
      if (action) {
        const b = el('button', { type: 'button', className: 'pick', title: t('pickLabel', { label: labelOf(p) }) }, parts);
        b.dataset.focus = `pick-${p.index}`;
        b.setAttribute('aria-pressed', String(item.explain.cls === p.index));
        b.addEventListener('click', action);
        li.append(b);
      } else li.append(...parts);
      return li;
    };
    // An "unknown" answer is the headline: the classes' scores follow as plain rows, never "Probably …".
    body.append(el('ol', { className: 'preds' }, [row(top, !result.unknown), ...rest.map((p) => row(p, false))]));
    if (hidden > 0) body.append(el('p', { className: 'more', textContent: t('moreTiny', { n: hidden }) }));
    if (Math.min(result.width, result.height) < SMALL_SIDE) body.append(el('p', { className: 'more small-photo', textContent: t('smallPhoto', { width: result.width, height: result.height }) }));
    if (item.explain.on && item.explain.url) body.append(...legend(item));
    // A heatmap that could not be made: said as an error; the toggle stays "Show", which tries again.
    if (item.explain.error) body.append(el('p', { className: 'state explain-error', role: 'alert', textContent: errorText(item.explain.error) }));
    // Which classes answered: a card keeps its answer when "Answer with" changes later.
    if (item.head) body.append(el('p', { className: 'timing answered-by', textContent: t('answeredBy', { name: item.head }) }));
    body.append(el('p', { className: 'timing', textContent: t('server', { ms: Math.round(result.timings_ms.total) }) }));
    if (state.model?.outputs?.includes('feature_map')) {
      // Its words say what it will do ("Show …", "Hide …"): no pressed state on top, which a screen reader would read as well.
      actions.append(button(t(item.explain.on ? 'hideWhere' : 'showWhere'), () => (item.explain.on ? hideExplain(item) : explain(item, top)), { className: 'small where' }, 'where'));
    }
  }
  const remove = el('button', { type: 'button', className: 'icon remove', textContent: '×', ariaLabel: t('removeCard', { name }) });
  remove.dataset.focus = 'remove';
  remove.addEventListener('click', () => removeCard(item));
  actions.append(remove);
  body.append(actions);
  card.replaceChildren(cardPicture(item, { alt: item.explain.on && item.explain.url ? whereFor(item) : item.file.name || 'image', redraw: render, enlarge }), body);
  if (focused) {
    // Retry goes while the photo is sent again: the focus waits on the card, never on Remove, which a second Enter would press.
    const target = card.querySelector(`[data-focus="${focused}"]`) ?? (focused === 'retry' ? card : card.querySelector('[data-focus="remove"]'));
    if (target === card) card.tabIndex = -1;
    target?.focus();
  }
}

/**
 * The explain route's query for answer `p` of `item`: a head's card asks for the head's class by its name
 * (the head may have been retrained with its classes in another order since this answer).
 */
function explainQuery(item, p) {
  return item.head ? `class=${encodeURIComponent(p.label)}&head=${encodeURIComponent(item.head)}` : `class=${p.index}`;
}

async function explain(item, p) {
  item.explain = { ...item.explain, on: true, cls: p.index, error: null };
  try {
    const res = await postPhoto(`v1/explain?image=crop&${explainQuery(item, p)}`, item.file);
    if (res.status === 401) state.onUnauthorized?.();
    if (!res.ok) {
      const code = (await res.json().catch(() => null))?.code ?? 'UNKNOWN';
      // A head deleted, or retrained without this class, since this answer.
      const changed = item.head && (code === 'NOT_FOUND' ? 'HEAD_GONE' : code === 'INVALID_ARGUMENT' ? 'HEAD_CHANGED' : null);
      throw Object.assign(new Error('explain'), { code: changed || code });
    }
    if (item.explain.url) URL.revokeObjectURL(item.explain.url);
    item.explain.url = URL.createObjectURL(await res.blob());
  } catch (err) {
    item.explain = { on: false, error: err.code ?? 'NETWORK' };
  }
  render(item);
  // The map is drawn above the answers: brought on screen, as the toggle that asked for it is below.
  if (item.explain.on && item.explain.url) item.card.querySelector('img.thumb')?.scrollIntoView({ block: 'nearest' });
}

function enlarge(item) {
  const p = item.result.predictions.find((x) => x.index === item.explain.cls);
  if (!p) return;
  showLarge(whereFor(item), [legendKey()], postPhoto(`v1/explain?image=photo&${explainQuery(item, p)}`, item.file), () => item.card.querySelector('button.enlarge'));
}

function hideExplain(item) {
  if (item.explain.url) URL.revokeObjectURL(item.explain.url);
  item.explain = { on: false };
  render(item);
}

function upload(item) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append('file', item.file, item.file.name || 'image');
    const xhr = new XMLHttpRequest();
    const head = item.head ? `&head=${encodeURIComponent(item.head)}` : '';
    xhr.open('POST', `v1/classify?top_k=${ASKED}${head}`);
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
        item.errorCode = refusalCode(result?.error?.code ?? body?.code ?? (xhr.status === 401 ? 'UNAUTHORIZED' : 'UNKNOWN'), item.file);
        // A busy server (a whole class sending at once) is asked again by itself, after the wait it names, a few times.
        if (item.errorCode === 'QUEUE_FULL' && (item.busyTries ?? 0) < BUSY_TRIES) {
          item.busyTries = (item.busyTries ?? 0) + 1;
          item.state = 'waiting';
          item.errorCode = null;
          const named = Number(xhr.getResponseHeader('Retry-After') ?? NaN);
          const seconds = Number.isFinite(named) && named >= 0 ? Math.min(30, named) : 1;
          // Spread over up to as long again (at least half a second), so a whole class does not come back at once.
          setTimeout(() => requeue(item), (seconds + Math.random() * Math.max(seconds, 0.5)) * 1000);
          resolve('later');
          return;
        }
        // The head it was sent to is gone (deleted in another window): said as such, and not retried.
        if (item.head && item.errorCode === 'NOT_FOUND') item.errorCode = 'HEAD_GONE';
        if (xhr.status === 401) state.onUnauthorized?.();
      }
      resolve();
    };
    xhr.onerror = () => {
      item.state = 'error';
      item.errorCode = 'NETWORK';
      resolve();
    };
    item.state = 'uploading';
    item.progress = 0;
    render(item);
    xhr.send(form);
  });
}

/** How many times a photo refused as "server busy" is sent again by itself before the card offers Retry. */
const BUSY_TRIES = 3;

let active = 0;
const queue = [];
function pump() {
  while (active < 4 && queue.length) {
    const item = queue.shift();
    active++;
    upload(item).then((outcome) => {
      active--;
      if (item.removed) return pump();
      render(item);
      if (outcome === 'later') return pump();
      item.onChange();
      settled(item);
      pump();
    });
  }
}

/**
 * Brings a drop's answer on screen (phones): its first photo that gets an answer, or, when none
 * does, its first card, so the reasons are in view.
 */
function settled(item) {
  const drop = item.drop;
  if (!drop || drop.scrolled) return;
  drop.pending--;
  const target = item.state === 'done' ? item.card : drop.pending === 0 ? drop.items.find((i) => !i.removed)?.card : null;
  if (!target) return;
  drop.scrolled = true;
  target.scrollIntoView({ block: 'nearest' });
}

/** A photo whose wait after "server busy" is over goes to the back of the queue (unless it was removed meanwhile). */
function requeue(item) {
  if (item.removed || item.state !== 'waiting' || queue.includes(item)) return;
  queue.push(item);
  pump();
}

function retry(item) {
  item.busyTries = 0;
  item.state = 'waiting';
  item.errorCode = null;
  render(item);
  queue.push(item);
  item.onChange();
  pump();
}

/** Removes a card; with `moveFocus` (one card's Remove), focus goes to the next card or the list's add control. */
function removeCard(item, moveFocus = true) {
  item.removed = true;
  const i = queue.indexOf(item);
  if (i >= 0) queue.splice(i, 1);
  if (item.thumbUrl) URL.revokeObjectURL(item.thumbUrl);
  if (item.explain.url) URL.revokeObjectURL(item.explain.url);
  const next = item.card.nextElementSibling ?? item.card.previousElementSibling;
  const list = item.card.parentElement;
  item.card.remove();
  all.splice(all.indexOf(item), 1);
  // Focus stays on the list's next card, or, with none left, on the control that adds photos to it.
  if (moveFocus) (next?.querySelector('button') ?? document.getElementById(list?.dataset.emptyFocus ?? ''))?.focus();
  item.onChange();
}

/**
 * Adds a card per file to `list` (a new drop above the earlier ones, its photos in their order) and
 * classifies each (with `options.head` when given); `onChange()` follows progress.
 */
export function addCards(list, files, options, onChange) {
  const items = [];
  const first = list.firstChild;
  const drop = { items, pending: files.length, scrolled: false };
  files.forEach((file) => {
    const card = el('li', { className: 'card' });
    const item = { file, card, state: 'waiting', progress: 0, result: null, errorCode: null, head: options.head, topK: options.topK, thumbUrl: URL.createObjectURL(file), thumbOk: true, explain: { on: false }, onChange, drop };
    items.push(item);
    all.push(item);
    list.insertBefore(card, first);
    if (file.size > state.maxBytes) {
      item.state = 'error';
      item.errorCode = 'FILE_TOO_LARGE';
      item.errorVars = tooLargeVars(file);
      drop.pending--;
    } else {
      queue.push(item);
    }
    render(item);
    if (MAY_MOVE.has(file.type)) void showFirstFrame(item, render);
  });
  onChange();
  pump();
  return items;
}

/**
 * The score from which a card says "Probably": more likely than not (a reader takes "probably" so: "Probably
 * tabby 43%" reads as a contradiction), and well above an even split among a head's few classes.
 */
function sureAbove(item) {
  return item.head ? Math.max(0.5, Math.min(0.9, 1.5 / Math.max(2, item.result.predictions.length))) : 0.5;
}

/** What a list of cards says in its status line (a live region): progress, then the newest answer itself. */
export function summaryOf(list) {
  const items = cardsIn(list);
  const done = items.filter((i) => i.state === 'done');
  const failed = items.filter((i) => i.state === 'error').length;
  const finished = done.length + failed;
  const text = items.length ? (failed ? t('doneFailed', { n: done.length, total: items.length, failed }) : t('done', { n: finished, total: items.length })) : '';
  const newest = done[0];
  if (!newest || finished !== items.length) return text;
  const p = newest.result.predictions[0];
  const label = state.lang === 'zh' && p.label_zh ? p.label_zh : p.label;
  const name = newest.file.name || 'image';
  // Worded as the card is: an answer it calls "not sure" is a "maybe" here too.
  const answer = newest.result.unknown ? t('answerUnknown', { name }) : t(p.score >= sureAbove(newest) ? 'answerIs' : 'answerMaybe', { name, label, pct: percent(p.score, sureAbove(newest)) });
  return t('sentence', { a: text, b: answer });
}

/** The cards of `list`, in the page's order. */
export function cardsIn(list) {
  const order = [...list.children];
  return all.filter((i) => i.card.parentNode === list).sort((a, b) => order.indexOf(a.card) - order.indexOf(b.card));
}

/** Removes every card of `list`, leaving the focus where it is (a Clear button puts it where it belongs). */
export function clearCards(list) {
  for (const item of cardsIn(list)) removeCard(item, false);
}

/** Sends again every card of `list` that failed for a passing reason (after an API key is given, or asked by Retry failed); returns them. */
export function retryFailed(list) {
  const again = retryableCards(list);
  again.forEach(retry);
  return again;
}

/** The cards of `list` that failed for a reason a second try may not meet (the server or the way to it, not the photo): those with Retry. */
export function retryableCards(list) {
  return cardsIn(list).filter((i) => i.state === 'error' && !FINAL_ERRORS.has(i.errorCode));
}

/** Shows `k` labels on every card of `list`. */
export function setLabelCount(list, k) {
  for (const item of cardsIn(list)) {
    item.topK = k;
    // A heatmap of an answer no longer shown gives way to the top answer's.
    const shown = item.state === 'done' ? shownPredictions(item) : [];
    if (item.explain.on && shown.length && !shown.some((p) => p.index === item.explain.cls)) explain(item, shown[0]);
    else render(item);
  }
}

/** Redraws every card (after a language change). */
export function renderAll() {
  all.forEach(render);
}

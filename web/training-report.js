// A trained head's report in the Teach view: when it was trained, how well it learned (held-out accuracy, a
// confusion matrix, the pairs most mixed up) and the training notes, the server's English or our Chinese.
import { TEXT, el, photoCount, state, t } from './common.js';

const NOTE_KEYS = { FEW_PHOTOS: 'noteFewPhotos', REPEATED_IN_CLASS: 'noteRepeated', IN_SEVERAL_CLASSES: 'noteSeveral', FEW_EVALUATED: 'noteFewEvaluated', FEW_FOR_UNKNOWN: 'noteFewForUnknown', UNKNOWN_OFF: 'noteUnknownOff', NAMED_UNKNOWN: 'noteNamedUnknown', ANSWERED_AS_OTHER: 'noteAnsweredAsOther' };

/** The server's note (worded for a terminal) as the page writes: a capital, a full stop, and “curly” quotes like the page's own sentences. */
const asSentence = (text) => {
  if (!text) return text;
  const quoted = text.replace(/"([^"]*)"/g, '“$1”');
  return `${quoted[0].toUpperCase()}${quoted.slice(1)}${/[.!?…]$/.test(quoted) ? '' : '.'}`;
};

/** “a”, “a”和“b”, “a”, “b” and “c”: class names as the reader's language lists them. */
function quotedList(names) {
  const quoted = names.map((c) => `“${c}”`);
  if (state.lang === 'zh') return quoted.join('和');
  return quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} and ${quoted.at(-1)}` : (quoted[0] ?? '');
}

/** A training note in the reader's language: the server's own English sentence, or the Chinese one made from the note's code and facts. */
function noteText(note, english) {
  const key = NOTE_KEYS[note?.code];
  // In English the server's own sentence, unless the page has its own (one that names no command-line option).
  if (!key || (state.lang !== 'zh' && TEXT.en[key] === undefined)) return asSentence(english);
  // Photos answered as another class are listed up to a few: more are said with an ellipsis, as the server's sentence does.
  const more = note.code === 'ANSWERED_AS_OTHER' && note.count > note.names.length;
  const names = [...(note.names ?? []), ...(more ? ['…'] : [])].join(t('nameSep'));
  return t(key, { ...note, photos: photoCount(note.count), names, classes: quotedList(note.classes ?? []), pct: `${Math.round((note.min ?? 0) * 100)}%` });
}

/**
 * Draws what training gave into `box`: when, the held-out accuracy, the notes (in the reader's language),
 * the confusion matrix and the classes most often mixed up; a progress bar while `busy`.
 */
export function drawTrainingReport(box, d, busy) {
  box.replaceChildren();
  if (busy) {
    box.append(el('p', { className: 'busy', textContent: t('training') }), el('progress'));
    box.setAttribute('aria-busy', 'true');
    return;
  }
  box.removeAttribute('aria-busy');
  if (!d.trained) {
    box.append(el('p', { textContent: t('notTrained') }));
    return;
  }
  const tr = d.training;
  const when = new Date(tr.trainedAt).toLocaleString(state.lang === 'zh' ? 'zh-CN' : 'en');
  // No accuracy: no photo could be held out (a class of one photo), said as such rather than as a dash.
  const said = tr.accuracy === null ? t('trainedUnmeasured', { when }) : t('trained', { when, acc: `${(tr.accuracy * 100).toFixed(1)}%` });
  box.append(el('p', { className: 'trained', textContent: said }));
  if (d.stale) box.append(el('p', { className: 'stale', textContent: t('stale') }));
  if (tr.warnings?.length) {
    const notes = tr.notes?.length === tr.warnings.length ? tr.notes : [];
    // "Unknown" learned from few photos, or off, changes what trying it will show: said beside the accuracy, not among the footnotes.
    const first = tr.warnings.map((w, i) => ({ note: notes[i], text: w }));
    const aboutUnknown = (w) => w.note?.code === 'FEW_FOR_UNKNOWN' || w.note?.code === 'UNKNOWN_OFF';
    const unknown = first.filter(aboutUnknown);
    const rest = first.filter((w) => !aboutUnknown(w));
    for (const w of unknown) box.append(el('p', { className: 'unknown-note', textContent: noteText(w.note, w.text) }));
    if (rest.length) box.append(el('p', { textContent: t('warnings') }), el('ul', { className: 'warnings' }, rest.map((w) => el('li', { textContent: noteText(w.note, w.text) }))));
  }
  // The confusion matrix is in class order (object keys would put number-like names first).
  const names = tr.classes ?? d.classes.map((c) => c.name);
  if (tr.accuracy !== null && names.length <= 12) {
    // Its title above it as a line of its own: a <caption> is held to the table's width, a few words a line.
    box.append(el('p', { id: 'confusion-title', className: 'confusion-title', textContent: t('confusion') }));
    const table = el('table', { className: 'confusion' });
    table.setAttribute('aria-labelledby', 'confusion-title');
    table.append(el('tr', {}, [el('td'), ...names.map((n) => el('th', { scope: 'col', textContent: n }))]));
    tr.confusion.forEach((row, i) => table.append(el('tr', {}, [el('th', { scope: 'row', textContent: names[i] }), ...row.map((v, j) => el('td', { textContent: String(v), className: i === j ? 'diag' : v ? 'off' : '' }))])));
    box.append(table);
  }
  const pairs = [];
  names.forEach((a, i) => names.forEach((b, j) => {
    if (j > i && tr.confusion[i][j] + tr.confusion[j][i] > 0) pairs.push([`${a} ↔ ${b}`, tr.confusion[i][j] + tr.confusion[j][i]]);
  }));
  if (pairs.length) box.append(el('p', { textContent: t('mixedUp', { pairs: pairs.sort((x, y) => y[1] - x[1]).slice(0, 3).map(([pair, n]) => t('mixedPair', { pair, n })).join(t('listSep')) }) }));
}

// Shared by the page's views: the texts in English and Chinese, the page state, small DOM helpers and API calls.
import { ERRORS } from './errors.js';

export const TEXT = {
  en: {
    title: 'What is in this photo?', labels: 'Labels', drop: 'Drop photos here, paste them, or choose them', dropTouch: 'Choose photos, or take one',
    pick: 'Choose photos', camera: 'Take a photo', hint: 'JPEG, PNG, WebP, GIF, TIFF, BMP or AVIF, up to {mb} MB each. Nothing leaves this server.',
    waiting: 'Waiting…', busyWaiting: 'The server is busy: trying again in a moment…', uploading: 'Uploading {pct}%', uploadingCount: 'Adding photos: {done} of {total}…', analysing: 'Analysing…', server: 'Server time {ms} ms',
    tooLarge: 'This file is {size} MB; the limit is {mb} MB.', network: 'The server could not be reached.',
    model: 'Model {name} · {sha}', done: '{n} of {total} done', key: 'API key', use: 'Use',
    recognise: 'Recognise', teach: 'Teach', answerWith: 'Answer with', imagenet: 'ImageNet (1000 classes)',
    teachTitle: 'Teach your own classes', teachIntro: 'Make a head, give each class photos (5 or more each; with 50 or more, new photos of your classes are rarely answered “unknown”), press Train, then try it on new photos.',
    head: 'Head', newHead: 'New head name', create: 'Create', noHeads: 'No heads yet: name one to start.',
    addClass: 'New class name', add: 'Add', photos: '{n} photos', addPhotos: 'Add photos', notAdded: 'Not added: {list}', alsoIn: 'Also in another class (a photo in two classes teaches neither): {list}', remove: 'Remove', removeClass: 'Remove class {name}',
    removePhoto: 'Remove photo {name}', answeredBy: 'Answered with “{name}”', train: 'Train', training: 'Training…', trainDone: 'Training finished: try it on new photos below.', trained: 'Trained {when}. Accuracy on held-out photos: {acc} (each photo tested while left out of the training).', trainedUnmeasured: 'Trained {when}. Accuracy could not be measured: a class needs at least 2 photos to test one while it is left out of the training.',
    notTrained: 'Not trained yet: once it is, “Try it” appears below, for new photos.', stale: 'Photos changed since training: train again to use them.', tryIt: 'Try it: drop or choose photos to recognise with this head', tryItTouch: 'Try it: choose photos to recognise with this head',
    confusion: 'Confusion: rows are the true class, columns the answer', mixedUp: 'Most often mixed up: {pairs}', mixedPair: '{pair} ({n})', listSep: ', ', nameSep: ', ', views: 'Views', named: '{name}: {what}', unknown: 'Unknown: none of these classes', closest: 'Had it been forced to choose one of them:',
    deleteHead: 'Delete head', needKey: 'This server needs an API key: enter it at the top of the page.',
    keyPrompt: 'This server needs an API key. Enter the key you were given:', keyWrong: 'That key was not accepted. Check it and try again.', forgetKey: 'Forget the API key',
    clear: 'Clear all', retry: 'Retry', retryAll: 'Retry the {n} that failed', retrySome: 'Retry {n} of the {failed} that failed', removeCard: 'Remove {name}', doneFailed: '{n} of {total} answered, {failed} failed', answerIs: '{name}: {label}, {pct}', answerMaybe: '{name}: maybe {label}, {pct}', answerUnknown: '{name}: unknown, none of these classes',
    probably: 'Probably', notSure: 'Not sure. Maybe', showWhere: 'Show where it looked', hideWhere: 'Hide where it looked', enlarge: 'Enlarge', closeLarge: 'Close', whereFor: 'Where it looked for “{label}”',
    legendLow: 'less', legendHigh: 'more', legend: 'Evidence for that class', legendTitle: '{legend}:', whereHint: 'The brightest part is where the evidence is strongest in this photo, however sure the answer. Choose another answer above to see where it looked for that one.', whereForClosest: 'Where it looked for “{label}”, the closest of its classes', pickLabel: 'Show where it looked for {label}',
    emptyNote: 'It recognises 1000 kinds of everyday things (animals, vehicles, food, tools, furniture…) and your own classes from the Teach tab.',
    headNote: 'Answering with your head “{name}”: {classes}, or “unknown”.', headNoteNoUnknown: 'Answering with your head “{name}”: always one of {classes} (it was trained without “unknown”).', noPreview: 'No preview', tab: 'resnet-serve · {title}', sentence: '{a}. {b}', legendLabel: '{legend}: {low} → {high}', moreTiny: '{n} more under 0.1%', smallPhoto: 'A small photo ({width}×{height} pixels): the model saw it enlarged, with few details, so take this answer as a guess.', confirmDeleteClass: 'Delete the class “{name}” and its {photos}?', onePhoto: '1 photo', classExists: 'There is a class “{name}” already.', badHeadName: 'A head name is 1 to 64 letters, digits, spaces, _ . or -, and starts with a letter or a digit (no / or other signs).', dropPhotoFiles: 'Only photo files can be dropped here. To move a photo to another class, remove it (×) and add its file there.', headExists: 'There is a head named “{name}” already: choose it under Head, or give the new one another name.', goneElsewhere: 'That was deleted meanwhile (in another window?): here is what is there now.', headDeleted: 'Deleted “{name}”.', needTwoClasses: 'To train, add at least two classes (each with a few photos).', needPhotosIn: 'To train, add photos to {names}: every class needs some.', waitForUploads: 'Train once the photos being added are in.', noteUnknownOff: 'Only one photo in {classes}, so “unknown” is off: every photo will be answered as one of your classes. “Unknown” is learned from photos held back from each class: give every class {min} or more and train again.', noteFewForUnknown: '“Unknown” was learned from only {photos} in the smallest class, so new photos of these classes will often be answered “unknown”. {min} or more photos per class make that much rarer.', noteNamedUnknown: 'The class “{class}” is named like the head’s own “unknown” answer (a photo unlike every class). Another name, such as “other”, keeps the two apart.', warnings: 'Worth knowing:', otherModel: 'This head was made on another model: serve that model to use or change it, or delete it here.', confirmDelete: 'Delete head “{name}” and its photos?', download: 'Download head file',
  },
  zh: {
    title: '照片里是什么？', labels: '标签数', drop: '把照片拖到这里、粘贴，或点击选择', dropTouch: '选择照片，或拍一张',
    pick: '选择照片', camera: '拍照', hint: '支持 JPEG、PNG、WebP、GIF、TIFF、BMP、AVIF，每张不超过 {mb} MB。图片不会离开本服务器。',
    waiting: '等待中…', busyWaiting: '服务器正忙，稍后会自动重试…', uploading: '上传中 {pct}%', uploadingCount: '正在添加照片：{done} / {total}…', analysing: '识别中…', server: '服务器用时 {ms} 毫秒',
    tooLarge: '文件大小 {size} MB，超过上限 {mb} MB。', network: '无法连接服务器。',
    model: '模型 {name} · {sha}', done: '已完成 {n} / {total}', key: 'API 密钥', use: '使用',
    recognise: '识别', teach: '教它新类别', answerWith: '识别方式', imagenet: 'ImageNet（1000 类）',
    teachTitle: '教它认识你自己的类别', teachIntro: '新建一个分类器，给每个类别一些照片（每类至少 5 张；有 50 张以上时，这些类别的新照片很少会被答成“未知”），点“训练”，再用新照片试试。',
    head: '分类器', newHead: '新分类器名称', create: '新建', noHeads: '还没有分类器：先起个名字。',
    addClass: '新类别名称', add: '添加', photos: '{n} 张照片', addPhotos: '添加照片', notAdded: '未添加：{list}', alsoIn: '别的类别里也有（同一张照片放在两个类别里，哪边都学不到）：{list}', remove: '删除', removeClass: '删除类别 {name}',
    removePhoto: '删除照片 {name}', answeredBy: '用“{name}”识别', train: '训练', training: '训练中…', trainDone: '训练完成：可以在下面用新照片试一试。', trained: '已于 {when} 训练。没参与训练的照片上的准确率：{acc}（每张照片都在不参与训练时测试）。', trainedUnmeasured: '已于 {when} 训练。无法测量准确率：每个类别至少要有 2 张照片，才能留出一张来测试。',
    notTrained: '尚未训练：训练后，下面会出现“试一试”，可以用新照片试。', stale: '训练后照片有改动：请重新训练。', tryIt: '试一试：放入或选择照片，用这个分类器识别', tryItTouch: '试一试：选择照片，用这个分类器识别',
    confusion: '混淆矩阵：行是真实类别，列是识别结果', mixedUp: '最常混淆：{pairs}', mixedPair: '{pair}（{n} 次）', listSep: '，', nameSep: '、', views: '视图', named: '{name}：{what}', unknown: '未知：不属于这些类别', closest: '如果非要从这些类别里选一个：',
    deleteHead: '删除分类器', needKey: '此服务器需要 API 密钥：请在页面顶部输入。',
    keyPrompt: '此服务器需要 API 密钥。请输入你拿到的密钥：', keyWrong: '密钥不正确，请检查后重试。', forgetKey: '清除 API 密钥',
    clear: '全部清除', retry: '重试', retryAll: '重试失败的 {n} 张', retrySome: '重试失败的 {failed} 张中的 {n} 张', removeCard: '移除 {name}', doneFailed: '已识别 {n} / {total}，失败 {failed} 张', answerIs: '{name}：{label}，{pct}', answerMaybe: '{name}：也许是{label}，{pct}', answerUnknown: '{name}：未知，不属于这些类别',
    probably: '很可能是', notSure: '不太确定，也许是', showWhere: '显示它看了哪里', hideWhere: '隐藏它看了哪里', enlarge: '放大', closeLarge: '关闭', whereFor: '它判断“{label}”时看的位置',
    legendLow: '少', legendHigh: '多', legend: '支持这个类别的依据', legendTitle: '{legend}：', whereHint: '最亮的地方是这张照片里依据最强的地方，不论答案有多确定。点上面的另一个答案，看它判断那个答案时看了哪里。', whereForClosest: '它判断最接近的类别“{label}”时看的位置', pickLabel: '显示它判断 {label} 时看的位置',
    emptyNote: '它能识别 1000 类日常事物（动物、交通工具、食物、工具、家具……），以及你在“教它新类别”里教的类别。',
    headNote: '正在用你的分类器“{name}”识别：{classes}，或“未知”。', headNoteNoUnknown: '正在用你的分类器“{name}”识别：总会答成{classes}中的一个（训练时没有学“未知”）。', noPreview: '无法预览', tab: 'resnet-serve · {title}', sentence: '{a}。{b}', legendLabel: '{legend}：{low} → {high}', moreTiny: '另有 {n} 个低于 0.1%', smallPhoto: '这张照片很小（{width}×{height} 像素）：模型看到的是放大后的图像，细节很少，这个答案只能算猜测。', confirmDeleteClass: '删除类别“{name}”及其 {photos}？', onePhoto: '1 张照片', classExists: '已经有“{name}”这个类别了。', badHeadName: '分类器名称由 1 到 64 个字母、数字、空格或 _ . - 组成，并以字母或数字开头（不能有 / 等符号）。', dropPhotoFiles: '这里只能放入照片文件。要把照片移到另一个类别，请先删除它（×），再把它的文件加到那个类别。', headExists: '已经有名为“{name}”的分类器了：请在“分类器”里选它，或给新的起个别的名字。', goneElsewhere: '它已在别处被删除（另一个窗口？）：这里显示的是现在的内容。', headDeleted: '已删除“{name}”。', needTwoClasses: '至少要有两个类别（每类几张照片）才能训练。', needPhotosIn: '要训练，请给{names}添加照片：每个类别都需要照片。', waitForUploads: '请等正在添加的照片传完再训练。', warnings: '注意：', noteFewPhotos: '类别“{class}”只有 {count} 张照片；每类至少 {min} 张才能训练出可用的分类器。', noteRepeated: '同一张照片在“{class}”里出现了 {count} 次（只算一次）：{names}。', noteSeveral: '同一张照片同时在{classes}里：{names}。', noteAnsweredAsOther: '“{class}”里有 {photos}在不参与训练时被识别为“{other}”（{pct} 以上）：请确认它们放对了类别：{names}。', noteFewEvaluated: '准确率只在 {count} 张照片上测得，可能偏差很大：多加些照片，数字会更可靠。', noteUnknownOff: '{classes}只有 1 张照片，所以“未知”没有开启：每张照片都会被答成你的某个类别。“未知”要靠从每个类别里留出的照片来学：每类至少 {min} 张后再训练一次。', noteFewForUnknown: '“未知”只从最小类别的 {count} 张照片学来：这些类别的新照片常会被答成“未知”。每类有 {min} 张以上会好得多。', noteNamedUnknown: '类别“{class}”的名字和分类器自己的“未知”答案（与所有类别都不像的照片）相同。换个名字，比如“其他”，就能分开两者。', otherModel: '这个分类器是在另一个模型上建立的：请用那个模型来使用或修改它，或在这里删除它。', confirmDelete: '删除分类器“{name}”及其照片？', download: '下载分类器文件',
  },
};

/** The sentence for an error `code` in the current language (a code the page does not know gets a generic one). */
/**
 * A refusal's code as the page says it: IMAGE_UNSUPPORTED for an iPhone photo (HEIC, HEVC-compressed, which this
 * build cannot decode) becomes HEIC_UNSUPPORTED, said with what to do instead. `file`: a File, or `{ name }`.
 */
export function refusalCode(code, file) {
  const heic = /\.(heic|heif)$/i.test(file?.name ?? '') || /^image\/hei[cf]/i.test(file?.type ?? '');
  return code === 'IMAGE_UNSUPPORTED' && heic ? 'HEIC_UNSUPPORTED' : code;
}

export function errorText(code, vars = {}) {
  const table = ERRORS[state.lang];
  // Millions in English, 万 (ten thousands) in Chinese: 50 million is 5000 万.
  const facts = { mp: Math.round(state.maxPixels / 1e6), wan: Math.round(state.maxPixels / 1e4), ...vars };
  return (table[code] ?? table.UNKNOWN).replace(/\{(\w+)\}/g, (_, k) => String(k === 'code' ? code : facts[k] ?? ''));
}

export const state = { lang: 'en', maxBytes: 20 * 1024 * 1024, maxPixels: 50_000_000, maxFiles: 32, model: null, key: sessionStorage.getItem('apiKey') ?? '', listeners: [] };

export const $ = (id) => document.getElementById(id);

/** A touch screen (a phone or tablet): a camera to hold, and nothing dropped on the page. */
export const touchScreen = () => window.matchMedia('(pointer: coarse)').matches;

/** The facts of a FILE_TOO_LARGE sentence for `file`: its size and the server's limit, in MB. */
export const tooLargeVars = (file) => ({ size: (file.size / 1048576).toFixed(1), mb: Math.round(state.maxBytes / 1048576) });
/** "1 photo", "3 photos" in the page's language. */
export const photoCount = (n) => (n === 1 ? t('onePhoto') : t('photos', { n }));

/** The text `key` in the current language, with `{name}` placeholders filled. */
export function t(key, vars = {}) {
  return TEXT[state.lang][key].replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}

/** A new element with properties and children. */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const c of children) node.append(c);
  return node;
}

/**
 * Makes the buttons of `group` one Tab stop (a class's photos, however many): the arrow keys, Home and End
 * move between them, and Tab goes on to what follows the group.
 */
export function rovingFocus(group) {
  const buttons = () => [...group.querySelectorAll('button')].filter((b) => !b.disabled);
  const current = (target) => {
    for (const b of buttons()) b.tabIndex = b === target ? 0 : -1;
  };
  current(buttons()[0]);
  group.addEventListener('focusin', (e) => buttons().includes(e.target) && current(e.target));
  group.addEventListener('keydown', (e) => {
    const list = buttons();
    const at = list.indexOf(document.activeElement);
    const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: list.length - 1 }[e.key];
    if (at < 0 || to === undefined || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    list[Math.max(0, Math.min(list.length - 1, to))].focus();
  });
}

/** Sends a photo as the request body (the explain route's pictures), with the API key when there is one. */
export function postPhoto(url, file) {
  return fetch(url, { method: 'POST', headers: { ...authHeaders(), 'Content-Type': file.type || 'application/octet-stream' }, body: file });
}

export function authHeaders() {
  return state.key ? { Authorization: `Bearer ${state.key}` } : {};
}

/** An API error's sentence in the page's current language (errors keep their code and the server's reason, so they can be worded again after a language switch). */
export function messageOf(err) {
  if (!err?.code) return err?.message ?? '';
  // A refused name or setting: the server's own sentence says exactly what to change (in English; after the page's own sentence in 中文).
  if (!err.reason) return errorText(err.code);
  return state.lang === 'en' ? err.reason : `${errorText(err.code)}（${err.reason}）`;
}

/** The error for a refused request, from its response and parsed body. */
function apiError(res, body) {
  if (res.status === 401) state.onUnauthorized?.();
  const code = body?.code ?? (res.status === 401 ? 'UNAUTHORIZED' : 'UNKNOWN');
  const reason = ['BAD_REQUEST', 'INVALID_ARGUMENT', 'CONFLICT'].includes(code) && body?.error ? body.error : undefined;
  // An upload none of whose photos could be used names each with its own reason (`refused`).
  const err = Object.assign(new Error(''), { status: res.status, code, reason, refused: Array.isArray(body?.refused) ? body.refused : undefined });
  err.message = messageOf(err);
  return err;
}

/** Fetches from the API with the key; resolves with a successful response, rejects with an error `messageOf` words (NETWORK when the server cannot be reached). */
export async function apiFetch(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...authHeaders(), ...init.headers } }).catch(() => {
    throw Object.assign(new Error(errorText('NETWORK')), { code: 'NETWORK' });
  });
  if (!res.ok) throw apiError(res, await res.json().catch(() => null));
  return res;
}

/** Calls the API; resolves with the parsed JSON (or null), rejects with an Error carrying the server's code and message. */
export async function api(path, options = {}) {
  const json = options.json !== undefined;
  const res = await apiFetch(path, { method: options.method ?? 'GET', headers: json ? { 'Content-Type': 'application/json' } : {}, body: json ? JSON.stringify(options.json) : options.body });
  return res.status === 204 ? null : res.json().catch(() => null);
}

/**
 * A message line (`role=status`, or `alert` for errors) that follows a language switch: `say(message, alert,
 * retry)` takes a function wording it in the current language, an error from `api`, or a plain string ('' clears
 * it); with `retry`, a Retry button after the words runs it (what failed, when the server is back).
 */
export function messageLine(id) {
  let current = { words: () => '', alert: false, retry: undefined };
  const draw = () => {
    const box = $(id);
    const again = current.retry;
    const hadFocus = box.contains(document.activeElement);
    box.replaceChildren(current.words(), ...(again ? [' ', el('button', { type: 'button', className: 'secondary small', textContent: t('retry'), onclick: () => again() })] : []));
    if (hadFocus && again) box.querySelector('button')?.focus();
    box.setAttribute('role', current.alert ? 'alert' : 'status');
  };
  onLanguage(draw);
  return (message, alert = false, retry = undefined) => {
    current = { words: message instanceof Error ? () => messageOf(message) : typeof message === 'function' ? message : () => message, alert, retry };
    draw();
  };
}

/** Runs `fn` whenever the language changes. */
export function onLanguage(fn) {
  state.listeners.push(fn);
}

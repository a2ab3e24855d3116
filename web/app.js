// resnet-serve web page: pick, drop, paste or photograph images; each gets a
// card with its thumbnail, upload/analysis progress, then the top labels.
const TEXT = {
  en: {
    title: 'What is in this photo?', labels: 'Labels', drop: 'Drop photos here, paste them, or choose them',
    pick: 'Choose photos', camera: 'Take a photo', hint: 'JPEG, PNG, WebP, GIF, TIFF or BMP, up to {mb} MB each. Nothing leaves this server.',
    waiting: 'Waiting…', uploading: 'Uploading {pct}%', analysing: 'Analysing…', server: 'Server time {ms} ms',
    tooLarge: 'This file is {size} MB; the limit is {mb} MB.', network: 'The server could not be reached.',
    model: 'Model {name} · {sha}', done: '{n} of {total} done', key: 'API key', use: 'Use',
  },
  zh: {
    title: '照片里是什么？', labels: '标签数', drop: '把照片拖到这里、粘贴，或点击选择',
    pick: '选择照片', camera: '拍照', hint: '支持 JPEG、PNG、WebP、GIF、TIFF、BMP，每张不超过 {mb} MB。图片不会离开本服务器。',
    waiting: '等待中…', uploading: '上传中 {pct}%', analysing: '识别中…', server: '服务器用时 {ms} 毫秒',
    tooLarge: '文件大小 {size} MB，超过上限 {mb} MB。', network: '无法连接服务器。',
    model: '模型 {name} · {sha}', done: '已完成 {n} / {total}', key: 'API 密钥', use: '使用',
  },
};

const state = { lang: 'en', maxBytes: 20 * 1024 * 1024, items: [], model: null, key: sessionStorage.getItem('apiKey') ?? '' };

function authHeaders() {
  return state.key ? { Authorization: `Bearer ${state.key}` } : {};
}
const $ = (id) => document.getElementById(id);

function t(key, vars = {}) {
  return TEXT[state.lang][key].replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}

function applyLanguage() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n, { mb: Math.round(state.maxBytes / 1048576) });
  for (const b of document.querySelectorAll('.lang button')) b.setAttribute('aria-pressed', String(b.dataset.lang === state.lang));
  if (state.model) $('model').textContent = t('model', { name: state.model.name, sha: state.model.sha256.slice(0, 12) });
  state.items.forEach(render);
  updateStatus();
}

function updateStatus() {
  const finished = state.items.filter((i) => i.state === 'done' || i.state === 'error').length;
  $('status').textContent = state.items.length ? t('done', { n: finished, total: state.items.length }) : '';
}

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const c of children) node.append(c);
  return node;
}

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
  const list = el('ol', { className: 'preds' });
  for (const p of item.result.predictions) {
    const pct = (p.score * 100).toFixed(1);
    const label = state.lang === 'zh' ? p.label_zh : p.label;
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
    xhr.open('POST', `/v1/classify?top_k=${encodeURIComponent($('topk').value)}`);
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
function pump() {
  while (active < 4 && queue.length) {
    const item = queue.shift();
    active++;
    upload(item).then(() => {
      active--;
      render(item);
      updateStatus();
      pump();
    });
  }
}

function addFiles(files) {
  for (const file of files) {
    const thumb = el('img', { alt: file.name || 'image', src: URL.createObjectURL(file) });
    thumb.onerror = () => {
      thumb.removeAttribute('src');
      thumb.alt = '';
    };
    const card = el('li', { className: 'card' }, [thumb, el('div', { className: 'body' })]);
    const item = { file, card, state: 'waiting', progress: 0, result: null, error: '' };
    state.items.push(item);
    $('results').prepend(card);
    if (file.size > state.maxBytes) {
      item.state = 'error';
      item.error = t('tooLarge', { size: (file.size / 1048576).toFixed(1), mb: Math.round(state.maxBytes / 1048576) });
    } else {
      queue.push(item);
    }
    render(item);
  }
  updateStatus();
  pump();
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
    if (files.length) addFiles(files);
  });
  for (const b of document.querySelectorAll('.lang button')) {
    b.addEventListener('click', () => { state.lang = b.dataset.lang; localStorage.setItem('lang', state.lang); applyLanguage(); });
  }
  const saved = localStorage.getItem('lang');
  state.lang = saved === 'zh' || saved === 'en' ? saved : navigator.language.startsWith('zh') ? 'zh' : 'en';
  applyLanguage();
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.key = $('key').value;
    sessionStorage.setItem('apiKey', state.key);
    loadModel();
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

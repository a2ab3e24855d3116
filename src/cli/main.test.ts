import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import sharp from 'sharp';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { endlessLoopOnnx, tinyClassifierOnnx } from '../testing/tiny-onnx.js';
import { scratchDir } from '../testing/scratch.js';
import { startServe } from '../testing/serve-process.js';

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));
let env: NodeJS.ProcessEnv;
let checkpoint: string;
let photos: string;

interface Run { code: number; stdout: string; stderr: string }

function run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr });
    });
  });
}

const noStackTrace = (text: string): boolean => !/^\s+at .+:\d+:\d+\)?$/m.test(text);

before(async () => {
  const root = await scratchDir('rs-cli-');
  env = { PATH: process.env.PATH, HOME: root, RESNET_SERVE_HOME: join(root, 'cache'), TORCH_HOME: join(root, 'torch') };
  checkpoint = (await writeRandomCheckpoint('resnet18', 9)).path;
  photos = join(root, 'photos');
  mkdirSync(join(photos, 'holiday 2024', 'ü'), { recursive: true });
  const jpeg = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#8040c0' } }).jpeg().toBuffer();
  writeFileSync(join(photos, 'a.jpg'), jpeg);
  writeFileSync(join(photos, 'holiday 2024', 'ü', 'b.png'), await sharp(jpeg).png().toBuffer());
  writeFileSync(join(photos, 'notes.jpg'), 'this is a text file with an image name');
  writeFileSync(join(photos, 'empty.png'), '');
  writeFileSync(join(photos, 'cut.jpg'), jpeg.subarray(0, 400));
  writeFileSync(join(photos, 'readme.txt'), 'not an image extension, so folders skip it');
  // What macOS leaves beside a photo copied from a Mac (AppleDouble metadata): hidden, so folders skip it.
  writeFileSync(join(photos, '._a.jpg'), Buffer.concat([Buffer.from([0x00, 0x05, 0x16, 0x07]), Buffer.alloc(60)]));
});

test('usage errors exit 2 with the message and where the usage is (the usage itself without a command)', async () => {
  const none = await run([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: resnet-serve/);
  // The pointer is to the command's own help when the command is known, else to the whole usage.
  for (const args of [['frobnicate'], ['--bogus'], ['classify'], ['classify', '--top-k', 'many', 'x.jpg'], ['classify', '--lang', 'fr', 'x.jpg'], ['--bogus', 'classify', 'x.jpg'], ['info', '--threads', '0'], ['classify', '--precision', 'int4', 'x.jpg']]) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const command = args.find((a) => a === 'classify' || a === 'info');
    const pointer = command ? `Run 'resnet-serve ${command} --help' for its options\\.` : `Run 'resnet-serve --help' for the commands and their options\\.`;
    assert.match(r.stderr, new RegExp(`^resnet-serve: .+\\n${pointer}\\n$`));
  }
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /classify <files or folders…>/);
  // One command's help: its own options and the common ones, not every other command's.
  for (const args of [['classify', '--help'], ['help', 'classify']]) {
    const one = await run(args);
    assert.equal(one.code, 0);
    assert.match(one.stdout, /^Usage: resnet-serve classify <files or folders…> \[options\]\n[\s\S]*--top-k N[\s\S]*--model NAME\|FILE/);
    assert.doesNotMatch(one.stdout, /--max-upload-mb|search <words/);
  }
  // An option of another command is refused, naming whose it is, rather than silently ignored.
  for (const [args, message] of [
    [['classify', 'x.jpg', '--port', '5'], /classify does not take --port \(an option of serve\)/],
    [['tag', '.', '--json'], /tag does not take --json \(an option of classify, embed, search, dupes\)/],
    [['export', '--threshold', '0.5'], /export does not take --threshold \(an option of dupes\)/],
    [['classify', 'x.jpg', '--max-batch', '8'], /classify does not take --max-batch \(an option of serve\)/],
    // Commands that only read an index do not run the model: its options are not theirs.
    [['export', '--model', '/nonexistent.onnx'], /export does not take --model \(an option of classify, /],
    [['dupes', '--precision', 'int8'], /dupes does not take --precision/],
    [['classify', 'x.jpg', '--reject', 'off'], /--reject goes with --head/],
    [['classify', 'x.jpg', '--top-k', '-1'], /--top-k -1: no option takes a negative number/],
    [['serve', '--max-batch', '100000'], /--max-batch is at most 256 \(images per inference batch\), got 100000/],
    [['serve', 'extra', 'junk'], /serve takes no files or words, got "extra" "junk"/],
    [['export', 'photos'], /export takes no files or words, got "photos"; the library is given with --library photos \(or --db FILE\)/],
    [['dupes', 'dogs', '--library', '.'], /dupes takes no files or words, got "dogs"/],
    [['info', 'resnet50'], /info takes no files or words, got "resnet50"/],
    // A queue smaller than one request's images would answer such a request "busy, retry" forever.
    [['serve', '--max-queue', '8'], /--max-queue \(8\) is below --max-files \(32\): a request of that many images could never be taken/],
    // Node's server refuses headers given longer than the whole request, and its timers fire at once past 2^31 - 1 ms.
    [['serve', '--body-timeout-ms', '2000', '--headers-timeout-ms', '5000'], /--headers-timeout-ms \(5000\) is above --body-timeout-ms \(2000\)/],
    [['serve', '--headers-timeout-ms', '999999999'], /--headers-timeout-ms \(999999999\) is above --body-timeout-ms \(60000\)/],
    [['serve', '--timeout-ms', '2147483648'], /--timeout-ms is at most 2147483647 \(Node's longest timer, about 24\.8 days\), got 2147483648/],
    [['serve', '--grace-period-ms', '999999999999'], /--grace-period-ms is at most 2147483647/],
  ] as const) {
    const r = await run([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  // A mistyped option is named with what it was probably meant to be.
  const typo = await run(['classify', '--topk', '3', 'x.jpg']);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown option --topk \(did you mean --top-k\?\)/);
  // A photo named with a leading dash is told how to be given.
  const dashDir = await scratchDir('rs-dash-');
  writeFileSync(join(dashDir, '-x.jpg'), 'x');
  writeFileSync(join(dashDir, '-hen.jpg'), 'x');
  const hen = await new Promise<Run>((resolve) => execFile(process.execPath, [BIN, 'classify', '-hen.jpg'], { cwd: dashDir, env }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr })));
  assert.match(hen.stderr, /for the file -hen\.jpg, write \.\/-hen\.jpg/);
  const dash = await new Promise<Run>((resolve) => execFile(process.execPath, [BIN, 'classify', '-x.jpg'], { cwd: dashDir, env }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr })));
  assert.equal(dash.code, 2);
  assert.match(dash.stderr, /unknown option -x \(for the file -x\.jpg, write \.\/-x\.jpg, or put -- before the files\)/);
  const command = await run(['classfy', 'x.jpg']);
  assert.equal(command.code, 2);
  assert.match(command.stderr, /unknown command "classfy" \(did you mean classify\?\)/);
  // An option without its value says so in plain words, whether it ends the line or another option follows.
  for (const args of [['classify', 'x.jpg', '--top-k'], ['classify', '--top-k', '--json', 'x.jpg']]) {
    const r = await run(args);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^resnet-serve: --top-k needs a value/);
  }
  const model = await run(['classify', '--model', 'resnet19', join(photos, 'a.jpg')]);
  assert.equal(model.code, 1);
  assert.match(model.stderr, /the models known by name are resnet18, resnet34/);
  const folder = await run(['classify', '--model', photos, join(photos, 'a.jpg')]);
  assert.equal(folder.code, 2, folder.stderr);
  assert.match(folder.stderr, /is a folder: a model is a \.pth or \.onnx file, or a name \(resnet18, resnet34/);
  const emptyFolder = await scratchDir('rs-empty-');
  const nothing = await run(['classify', emptyFolder, '--model', checkpoint]);
  assert.equal(nothing.code, 1);
  assert.equal(nothing.stderr, `${emptyFolder}: no photos in this folder\nNo image files found.\n`);
  // A bad value from the environment names the variable the user set, not only the option.
  const fromEnv = await run(['classify', 'x.jpg'], { RESNET_SERVE_TOP_K: 'abc' });
  assert.equal(fromEnv.code, 2);
  assert.match(fromEnv.stderr, /--top-k must be a positive integer, got "abc" \(set by the environment variable RESNET_SERVE_TOP_K\)/);
  // Also when the engine refuses it (a calibration folder that is not there), in words, not Node's.
  const calibrate = await run(['classify', join(photos, 'a.jpg'), '--model', checkpoint, '--precision', 'int8'], { RESNET_SERVE_CALIBRATE: join(emptyFolder, 'not-there') });
  assert.equal(calibrate.code, 2, calibrate.stderr);
  assert.equal(calibrate.stderr, `resnet-serve: calibrate: ${join(emptyFolder, 'not-there')} cannot be read as a folder of photos: no such folder (ENOENT) (set by the environment variable RESNET_SERVE_CALIBRATE)\n`);
  const version = await run(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout, `resnet-serve ${JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version}\n`);
});

test('offline with no weights: exit 1 and instructions, not a stack trace', async () => {
  const r = await run(['classify', join(photos, 'a.jpg')], { RESNET_SERVE_OFFLINE: '1' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /resnet18-f37072fd\.pth/);
  assert.match(r.stderr, /--model/);
  assert.ok(noStackTrace(r.stderr), r.stderr);
  assert.match(r.stderr, /offline mode/);
  // "false" is off, as for every on/off variable: the download is tried (here from a closed port).
  const off = await run(['classify', join(photos, 'a.jpg')], { RESNET_SERVE_OFFLINE: 'false', RESNET_SERVE_WEIGHTS_URL: 'http://127.0.0.1:9' });
  assert.equal(off.code, 1);
  assert.match(off.stderr, /could not be downloaded/);
  assert.doesNotMatch(off.stderr, /offline mode/);
});

test('classify a folder: good files are classified, bad ones reported by name and reason, exit 1', async () => {
  const r = await run(['classify', photos, '--model', checkpoint, '--top-k', '2']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /a\.jpg {2}\(320×240, \d+ ms\)\n {3}1\. .+%/);
  assert.match(r.stdout, /holiday 2024\/ü\/b\.png/);
  assert.match(r.stderr, /notes\.jpg\n {2}error IMAGE_UNSUPPORTED: /);
  assert.match(r.stderr, /empty\.png\n {2}error IMAGE_EMPTY: /);
  assert.match(r.stderr, /cut\.jpg\n {2}error IMAGE_CORRUPT: /);
  assert.match(r.stderr, /3 of 5 files failed/);
  assert.doesNotMatch(r.stdout + r.stderr, /readme\.txt|\._a\.jpg/);
  assert.ok(noStackTrace(r.stderr), r.stderr);
});

test('--json prints one object per file, in order, and --lang both adds Chinese labels', async () => {
  const r = await run(['classify', join(photos, 'a.jpg'), join(photos, 'notes.jpg'), '--model', checkpoint, '--json', '--top-k', '3', '--lang', 'both']);
  assert.equal(r.code, 1);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(lines[0].file, join(photos, 'a.jpg'));
  assert.deepEqual([lines[0].width, lines[0].height], [320, 240]);
  assert.equal(lines[0].predictions.length, 3);
  for (const p of lines[0].predictions) {
    assert.deepEqual(Object.keys(p), ['index', 'label', 'label_zh', 'score']);
    assert.match(p.label_zh, /[\u4e00-\u9fff]/u);
  }
  assert.deepEqual(Object.keys(lines[0].timings_ms), ['decode', 'preprocess', 'infer', 'total']);
  // An image's own time: its stages, with its share of the batch's inference (not the batch's wall time).
  const t = lines[0].timings_ms;
  assert.ok(Math.abs(t.total - (t.decode + t.preprocess + t.infer)) <= 0.11, JSON.stringify(t));
  assert.equal(lines[1].error.code, 'IMAGE_UNSUPPORTED');
  // Results go to stdout; stderr has only the closing line, for whoever pipes the JSON away.
  assert.equal(r.stderr, '1 of 2 files failed.\n');
  const ok = await run(['classify', join(photos, 'a.jpg'), '--model', checkpoint, '--json']);
  assert.equal(ok.code, 0);
  assert.equal(JSON.parse(ok.stdout).predictions.length, 3);
});

test('with the results going to a file and stderr a terminal, a progress line shows how far it is, failures printed above it', { skip: existsSync('/usr/bin/script') ? false : 'needs util-linux script(1) for a terminal' }, async () => {
  const dir = await scratchDir('rs-cli-progress-');
  const jpeg = readFileSync(join(photos, 'a.jpg'));
  for (let i = 0; i < 12; i++) writeFileSync(join(dir, `p${String(i).padStart(2, '0')}.jpg`), jpeg);
  writeFileSync(join(dir, 'p05b.jpg'), 'not a photo');
  const out = join(dir, 'out.jsonl');
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  // script(1) gives the command a terminal; stdout goes to the file, so only stderr reaches it.
  const command = [process.execPath, BIN, 'classify', dir, '--model', checkpoint].map(quote).join(' ') + ` > ${quote(out)}`;
  const terminal = await new Promise<Run>((resolve) => {
    execFile('script', ['-qec', command, '/dev/null'], { env: { ...env, COLUMNS: '100' }, timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }));
  });
  assert.equal(terminal.code, 1, terminal.stdout);
  assert.match(terminal.stdout, /\r\x1b\[2K.*13\/13 photos, [\d.]+ images\/s, ETA 0:00, 1 failed/);
  assert.match(terminal.stdout, /p05b\.jpg\r?\n {2}error IMAGE_UNSUPPORTED/);
  assert.match(terminal.stdout, /1 of 13 files failed\.\r?\n$/);
  assert.equal(readFileSync(out, 'utf8').match(/^p\d+b?\.jpg|^.*\/p\d+b?\.jpg {2}\(/gm)?.length, 12, 'the twelve photos, in the file');
});

test('classify - reads the photo piped in, beside files; what is piped in and is no image fails as a file would', async () => {
  const piped = (args: string[], input: Buffer): Promise<Run> =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, [BIN, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }));
      child.stdin?.end(input);
    });
  const photo = join(photos, 'a.jpg');
  const r = await piped(['classify', '-', photo, '--model', checkpoint, '--json'], readFileSync(photo));
  assert.equal(r.code, 0, r.stderr);
  const [fromPipe, fromFile] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(fromPipe.file, '-');
  assert.deepEqual(fromPipe.predictions, fromFile.predictions);
  const text = await piped(['classify', '-', '--model', checkpoint], Buffer.from('a shopping list, not a photo'));
  assert.equal(text.code, 1);
  assert.match(text.stderr, /^-\n {2}error IMAGE_UNSUPPORTED: /m);
  const embedded = await piped(['embed', '-', '--model', checkpoint, '--json'], readFileSync(photo));
  assert.equal(embedded.code, 0, embedded.stderr);
  assert.equal(JSON.parse(embedded.stdout).dim, 512);
});

test('info shows the model, its source, hash, cache and ONNX Runtime version', async () => {
  const r = await run(['info', '--model', checkpoint]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^model +resnet18$/m);
  assert.match(r.stdout, /^source +checkpoint$/m);
  assert.match(r.stdout, /^sha256 +[0-9a-f]{64}$/m);
  assert.match(r.stdout, new RegExp(`^cache +${env.RESNET_SERVE_HOME}$`, 'm'));
  assert.match(r.stdout, /^onnxruntime +\d+\.\d+\.\d+$/m);
  assert.match(r.stdout, /^precision +fp32$/m);
  // int8: which photos it was calibrated on.
  const int8 = await run(['info', '--model', checkpoint, '--precision', 'int8']);
  assert.equal(int8.code, 0, int8.stderr);
  assert.match(int8.stdout, /^precision +int8, calibrated on the built-in photos$/m);
  const official = await run(['info']);
  assert.equal(official.code, 0);
  assert.match(official.stdout, /resnet18-f37072fd\.pth/);
  assert.match(official.stdout, /not downloaded yet/);
});

test('fetch-model downloads with progress, and refuses a file whose hash is wrong', async () => {
  const body = Buffer.alloc(2_000_000, 1);
  const server = createServer((req, res) => {
    res.writeHead(req.url === '/resnet18-f37072fd.pth' ? 200 : 404, { 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const r = await run(['fetch-model'], { RESNET_SERVE_WEIGHTS_URL: `http://127.0.0.1:${port}` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Downloading weights: 100% \(2\.0 of 2\.0 MB\)/);
    assert.match(r.stderr, /does not begin with f37072fd; it was deleted/);
    assert.ok(noStackTrace(r.stderr));
  } finally {
    server.close();
  }
});

test('serve: ready message, answers, and SIGTERM exits 0', async () => {
  const { child, url, stderr } = await startServe(BIN, ['--port', '0', '--model', checkpoint, '--workers', '1'], env);
  assert.match(stderr(), /resnet18 \(checkpoint, fp32, sha256 [0-9a-f]{12}\)/);
  assert.deepEqual(await (await fetch(`${url}/readyz`)).json(), { status: 'ready' });
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(await sharp({ create: { width: 300, height: 200, channels: 3, background: '#333' } }).png().toBuffer())]), 'x.png');
  const answer = await (await fetch(`${url}/predict`, { method: 'POST', body: form })).json();
  assert.equal(answer.length, 3);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('serve: a port in use is a one-line error, not a stack trace', async () => {
  const blocker = createServer(() => {});
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const r = await run(['serve', '--port', String(port), '--model', checkpoint, '--workers', '1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use`));
    assert.ok(noStackTrace(r.stderr), r.stderr);
  } finally {
    blocker.close();
  }
});

test('start-up faults: one line, non-zero exit, never a stack trace', async () => {
  const dir = await scratchDir('rs-faults-');
  const truncated = join(dir, 'truncated.pth');
  writeFileSync(truncated, readFileSync(checkpoint).subarray(0, 1_000_000));
  const corrupt = join(dir, 'corrupt.pth');
  const bytes = Buffer.from(readFileSync(checkpoint));
  bytes.fill(0x41, 2000, 6000);
  writeFileSync(corrupt, bytes);
  const tenClasses = join(dir, 'ten.onnx');
  writeFileSync(tenClasses, tinyClassifierOnnx(['n', 3, 224, 224], 10));
  writeFileSync(join(dir, 'blocker'), 'a file where the cache folder should be');
  const headsBlocked = join(dir, 'heads-blocked');
  mkdirSync(join(headsBlocked, 'heads.sqlite'), { recursive: true });
  const endless = join(dir, 'endless.onnx');
  writeFileSync(endless, endlessLoopOnnx());
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['serve', '--port', '0', '--model', endless, '--startup-timeout-ms', '2000'], {}, /endless\.onnx did not finish its first inference within 2000 ms/],
    [['classify', join(photos, 'a.jpg'), '--model', endless, '--startup-timeout-ms', '2000'], {}, /endless\.onnx did not finish its first inference within 2000 ms/],
    [['info', '--model', endless, '--startup-timeout-ms', '2000'], {}, /endless\.onnx did not finish its first inference within 2000 ms/],
    [['serve', '--port', '0', '--model', join(dir, 'missing.pth')], {}, /No model file at .*missing\.pth/],
    [['serve', '--port', '0', '--model', truncated], {}, /truncated\.pth.*(zip|checkpoint)/i],
    [['serve', '--port', '0', '--model', corrupt], {}, /corrupt\.pth/],
    [['serve', '--port', '0', '--model', tenClasses], {}, /10 classes/],
    [['serve', '--port', '0', '--model', checkpoint], { RESNET_SERVE_HOME: join(dir, 'blocker', 'cache') }, /cache folder/],
    // A cache folder that takes the model but not the heads' database (as a read-only one would not): one line, not SQLite's stack trace.
    [['serve', '--port', '0', '--model', checkpoint], { RESNET_SERVE_HOME: headsBlocked }, /Cannot write to the cache folder .*heads-blocked: .*SQLITE_CANTOPEN.*set RESNET_SERVE_HOME/],
  ];
  if (existsSync('/proc/self')) cases.push([['classify', join(photos, 'a.jpg'), '--model', checkpoint], { RESNET_SERVE_HOME: '/proc/resnet-serve-cache' }, /Cannot write to the cache folder \/proc\/resnet-serve-cache/]);
  // Three at a time: most of each is a process starting or a time limit running out.
  const outcomes: { args: string[]; message: RegExp; ms: number; r: Awaited<ReturnType<typeof run>> }[] = [];
  for (let i = 0; i < cases.length; i += 3) {
    outcomes.push(
      ...(await Promise.all(
        cases.slice(i, i + 3).map(async ([args, extra, message]) => {
          const started = Date.now();
          const r = await run(args, extra);
          return { args, message, ms: Date.now() - started, r };
        }),
      )),
    );
  }
  for (const { args, message, ms, r } of outcomes) {
    assert.ok(ms < 30_000, `${args.join(' ')} took ${ms} ms`);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length <= 2, true, r.stderr);
    assert.ok(noStackTrace(r.stderr), r.stderr);
  }
  // A head that cannot be read is a wrong argument (exit 2), said once, with no stack trace after the message.
  const r = await run(['serve', '--port', '0', '--model', checkpoint, '--head', `bugs=${join(dir, 'no-head.json')}`]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--head bugs=.*no-head\.json: cannot read it/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(noStackTrace(r.stderr), r.stderr);
});

test('classify a folder with a name that is not UTF-8: read, and shown as ls -b shows it', async () => {
  const dir = await scratchDir('rs-latin-');
  writeFileSync(Buffer.concat([Buffer.from(join(dir, 'caf')), Buffer.from([0xe9]), Buffer.from('.jpg')]), readFileSync(join(photos, 'a.jpg')));
  const r = await run(['classify', dir, '--model', checkpoint, '--top-k', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /caf\\xe9\.jpg {2}\(320×240/);
  const json = await run(['classify', dir, '--model', checkpoint, '--json']);
  assert.equal(JSON.parse(json.stdout).file, join(dir, 'caf\\xe9.jpg'));
});

test('classify --explain: heatmaps beside the answers; a folder it cannot write to is refused at once, never a hang', async () => {
  const dir = await scratchDir('rs-explain-cli-');
  const out = join(dir, 'maps', 'deeper');
  const r = await run(['classify', join(photos, 'a.jpg'), '--model', checkpoint, '--explain', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`where it looked: ${join(out, 'a.jpg.png').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  for (const name of ['a.jpg.png', 'a.jpg.photo.png']) assert.equal((await sharp(join(out, name)).metadata()).format, 'png');
  // Two photos whose names flatten alike (photos/a.jpg from elsewhere, and another a.jpg) keep one heatmap each.
  const other = join(dir, 'a.jpg');
  writeFileSync(other, await sharp({ create: { width: 200, height: 300, channels: 3, background: '#20a040' } }).jpeg().toBuffer());
  const both = await run(['classify', join(photos, 'a.jpg'), other, '--model', checkpoint, '--explain', join(dir, 'both')]);
  assert.equal(both.code, 0, both.stderr);
  const maps = [...both.stdout.matchAll(/where it looked: (.+)$/gm)].map((m) => m[1]);
  assert.equal(new Set(maps).size, 2, both.stdout);
  assert.deepEqual(maps.map((m) => m.slice(join(dir, 'both').length + 1)), ['a.jpg.png', 'a.jpg~2.png']);
  // A name near the file system's 255 bytes: its heatmap gets a shortened name, and every photo keeps its answer.
  const long = join(dir, `${'長'.repeat(82)}.jpg`);
  writeFileSync(long, readFileSync(other));
  const longRun = await run(['classify', long, other, '--model', checkpoint, '--explain', join(dir, 'long')]);
  assert.equal(longRun.code, 0, longRun.stderr);
  const longMaps = [...longRun.stdout.matchAll(/where it looked: (.+)$/gm)].map((m) => m[1]);
  assert.equal(longMaps.length, 2, longRun.stdout);
  for (const m of longMaps) assert.ok(existsSync(m) && Buffer.byteLength(basename(m).replace(/\.png$/, '.photo.png')) <= 255, m);
  assert.match(longMaps[0], /長~[0-9a-f]{8}~長+\.jpg\.png$/);
  // --class: where it looked for another class than the top answer, said on the line; only with --explain.
  const forClass = await run(['classify', join(photos, 'a.jpg'), '--model', checkpoint, '--explain', join(dir, 'class'), '--class', '虎斑猫', '--lang', 'both']);
  assert.equal(forClass.code, 0, forClass.stderr);
  assert.match(forClass.stdout, /where it looked for tabby \/ 虎斑猫: .+a\.jpg\.for-tabby\.png$/m);
  // A map for a class asked for sits beside the top answer's, never over it (slides comparing two classes).
  const topMap = await run(['classify', join(photos, 'a.jpg'), '--model', checkpoint, '--explain', join(dir, 'class')]);
  assert.equal(topMap.code, 0, topMap.stderr);
  assert.deepEqual(readdirSync(join(dir, 'class')).sort(), ['a.jpg.for-tabby.photo.png', 'a.jpg.for-tabby.png', 'a.jpg.photo.png', 'a.jpg.png']);
  const json = await run(['classify', join(photos, 'a.jpg'), '--model', checkpoint, '--explain', join(dir, 'class'), '--class', '281', '--json']);
  assert.equal(JSON.parse(json.stdout).heatmap_class, 'tabby');
  const alone = await run(['classify', join(photos, 'a.jpg'), '--model', checkpoint, '--class', 'tabby']);
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /--class goes with --explain/);
  // Heatmaps written inside the folder classified: a second run reads the same photos, not the first run's maps.
  const album = join(dir, 'album');
  mkdirSync(album);
  writeFileSync(join(album, 'b.jpg'), readFileSync(other));
  for (let round = 0; round < 2; round++) {
    const inside = await run(['classify', album, '--model', checkpoint, '--explain', join(album, 'maps')]);
    assert.equal(inside.code, 0, inside.stderr);
    assert.deepEqual([...inside.stdout.matchAll(/where it looked: (.+)$/gm)].map((m) => basename(m[1])), ['b.jpg.png'], inside.stdout);
  }
  // Written into the very folder classified (classify album --explain album): its heatmaps are passed by, its own PNGs are not.
  rmSync(join(album, 'maps'), { recursive: true });
  writeFileSync(join(album, 'c.png'), await sharp({ create: { width: 120, height: 90, channels: 3, background: '#a04020' } }).png().toBuffer());
  for (let round = 0; round < 3; round++) {
    const here = await run(['classify', album, '--model', checkpoint, '--explain', album, '--json']);
    assert.equal(here.code, 0, here.stderr);
    assert.deepEqual(here.stdout.trim().split('\n').map((l) => basename(JSON.parse(l).file)), ['b.jpg', 'c.png'], `round ${round}: ${here.stdout}`);
  }
  // Node's own recursive mkdir loops forever under /proc (mkdir answers ENOENT there for a parent that exists).
  const refused = [join(photos, 'a.jpg'), ...(existsSync('/proc/self') ? ['/proc/resnet-serve-heatmaps'] : [])];
  for (const target of refused) {
    const started = Date.now();
    const bad = await run(['classify', join(photos, 'a.jpg'), '--model', checkpoint, '--explain', target]);
    assert.ok(Date.now() - started < 30_000, `--explain ${target} took ${Date.now() - started} ms`);
    assert.equal(bad.code, 1, bad.stderr);
    // The disk's answer in words, on one line: not a usage mistake, so no pointer to --help.
    assert.match(bad.stderr, /^resnet-serve: error IO_ERROR: --explain .+: heatmaps cannot be written there: [a-z ]+ \((ENOENT|EACCES|ENOTDIR)\)\n$/);
    assert.equal(bad.stdout, '');
  }
});

test('serve --api-key-file: the key comes from a file (never the process list), and is required', async () => {
  const dir = await scratchDir('rs-key-');
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, 'a-long-secret-from-a-file\n');
  const { child, port } = await startServe(BIN, ['--port', '0', '--model', checkpoint, '--workers', '1', '--api-key-file', keyFile], env);
  try {
    const url = `http://127.0.0.1:${port}/v1/models`;
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer a-long-secret-from-a-file' } })).status, 200);
    assert.ok(!readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').includes('a-long-secret'), 'the key is not in the process list');
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  const missing = await run(['serve', '--port', '0', '--model', checkpoint, '--api-key-file', join(dir, 'nope')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--api-key-file .*nope: cannot read it \(ENOENT\)/);
  // From the environment: said so; the command line wins over it; a short key says where it came from.
  const fromEnv = await run(['serve', '--port', '0', '--model', checkpoint], { RESNET_SERVE_API_KEY_FILE: join(dir, 'nope') });
  assert.match(fromEnv.stderr, /cannot read it \(ENOENT\) \(set by the environment variable RESNET_SERVE_API_KEY_FILE\)/);
  const both = await run(['serve', '--port', '0', '--model', checkpoint, '--api-key-file', join(dir, 'nope')], { RESNET_SERVE_API_KEY: 'a-key-from-the-environment' });
  assert.doesNotMatch(both.stderr, /not both/);
  assert.match(both.stderr, /--api-key-file .*nope: cannot read it/);
  const short = await run(['serve', '--port', '0', '--model', checkpoint], { RESNET_SERVE_API_KEY: 'short' });
  assert.equal(short.code, 2);
  assert.match(short.stderr, /--api-key must be at least 8 characters \(set by the environment variable RESNET_SERVE_API_KEY\)/);
});

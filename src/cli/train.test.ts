import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { testPhoto } from '../testing/fixtures.js';
import { startServe } from '../testing/serve-process.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { scratchDir } from '../testing/scratch.js';

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));
let root: string;
let env: NodeJS.ProcessEnv;
let checkpoint: string;
let otherCheckpoint: string;

function run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }));
  });
}

before(async () => {
  root = await scratchDir('rs-train-');
  env = { PATH: process.env.PATH, HOME: root, RESNET_SERVE_HOME: join(root, 'cache') };
  checkpoint = (await writeRandomCheckpoint('resnet18', 41)).path;
  otherCheckpoint = (await writeRandomCheckpoint('resnet18', 42)).path;
  const set = join(root, 'set');
  for (const [name, seeds] of [['warm', [0, 11, 16, 27, 32, 43]], ['冷色', [3, 8, 19, 24, 35, 40]], ['rare', [59]]] as const) {
    mkdirSync(join(set, name), { recursive: true });
    for (const s of seeds) writeFileSync(join(set, name, `photo ${s}.jpg`), await testPhoto(s, 160, 120));
  }
  writeFileSync(join(set, 'warm', 'notes.txt'), 'shopping list');
  writeFileSync(join(set, 'rare', 'copy of warm.jpg'), readFileSync(join(set, 'warm', 'photo 0.jpg')));
  writeFileSync(join(set, 'warm', 'photo 0 again.jpg'), readFileSync(join(set, 'warm', 'photo 0.jpg')));
  writeFileSync(join(set, 'stray.jpg'), await testPhoto(1, 64, 64));
  writeFileSync(join(set, 'README.txt'), 'where these photos come from');
  // A Synology NAS's thumbnails, beside the classes and inside one: neither a class nor photos of one.
  for (const at of [join(set, '@eaDir', 'stray.jpg'), join(set, 'warm', '@eaDir', 'photo 0.jpg')]) {
    mkdirSync(at, { recursive: true });
    writeFileSync(join(at, 'SYNOPHOTO_THUMB_M.jpg'), await testPhoto(2, 64, 48));
  }
});

test('train: counts, cross-validated accuracy, confusion, mix-ups, warnings, and a head file', async () => {
  const out = join(root, 'colours.json');
  const r = await run(['train', join(root, 'set'), '--out', out, '--model', checkpoint, '--cv', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /warm\s+6 photos/);
  assert.match(r.stdout, /冷色\s+6 photos/);
  assert.match(r.stdout, /Accuracy \(cross-validated, 2 folds\): \d+\.\d% of 14 held-out photos/);
  assert.match(r.stdout, /Confusion \(rows: the true class, columns: the answer\):/);
  // With a handful of photos per class, "unknown" on held-out photos says little about new ones: said twice, never "about twice that".
  assert.match(r.stdout, /Unknown: \d+\.\d% of held-out training photos would be answered "unknown" \(with this few photos, that says little: new photos of these classes will often be answered "unknown"\)/);
  assert.match(r.stderr, /"unknown" was learned from 2 photos in the smallest class: new photos of these classes will often be answered "unknown"; 50 or more per class make that much rarer \(or train without "unknown": --reject off, or "reject": false through the API\)/);
  // 15 photos, 13 contents: "photo 0" is there three times, embedded once.
  assert.match(r.stderr, /Embedded 13 photos at [\d.]+ images\/s, none cached, 2 photos repeated \(the same content as another\)/);
  assert.match(r.stderr, /class "rare" has only 2 photos; 5 or more/);
  assert.match(r.stderr, /the same photo is 2 times in "warm" \(counted once\)/);
  assert.match(r.stderr, /the accuracy was measured on only 14 photos/);
  assert.match(r.stderr, /the same photo is in "(warm" and "rare|rare" and "warm)"/);
  assert.match(r.stderr, /skipped .*notes\.txt: not an image/);
  assert.match(r.stderr, /ignored .*stray\.jpg: photos belong in a class folder/);
  assert.match(r.stderr, /ignored README\.txt: not in a class folder/);
  const head = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(head.format, 'resnet-serve-head');
  assert.deepEqual(head.classes, ['rare', 'warm', '冷色']);
  assert.equal(head.backbone.dim, 512);
  assert.equal(head.backbone.precision, 'fp32');
  assert.match(r.stderr, /^Training head "set" on resnet18 \(fp32, sha256 [0-9a-f]{12}\) from /m);
  // Again: every embedding comes from the cache.
  const again = await run(['train', join(root, 'set'), '--out', out, '--model', checkpoint, '--holdout', '0.3']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /All 13 embeddings came from the cache, 2 photos repeated/);
  // 0.3 holds out one of three equal parts: the report says what was held out.
  assert.match(again.stdout, /Accuracy \(on 33% held out\)/);
});

test('train with one photo per class: "unknown" is off, and the report and the warning say so and what to do', async () => {
  const set = join(root, 'one-each');
  for (const [name, seed] of [['ants', 5], ['bees', 6]] as const) {
    mkdirSync(join(set, name), { recursive: true });
    writeFileSync(join(set, name, 'only.jpg'), await testPhoto(seed, 160, 120));
  }
  const out = join(root, 'one-each.json');
  const r = await run(['train', set, '--out', out, '--model', checkpoint]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Unknown: off \(it needs 2 or more photos in every class; see the warning below\)$/m);
  assert.doesNotMatch(r.stdout, /held-out training photos would be answered/);
  assert.match(r.stderr, /"unknown" is off, so every photo is answered as one of the classes: .*"ants" and "bees" have only 1 photo; give every class 2 or more and train again/);
  assert.equal(JSON.parse(readFileSync(out, 'utf8')).rejection, null);
});

test('a damaged photo there twice is read once and skipped under both its names', async () => {
  const set = join(root, 'twice');
  for (const [name, seeds] of [['warm', [0, 11, 16]], ['冷色', [3, 8, 19]]] as const) {
    mkdirSync(join(set, name), { recursive: true });
    for (const s of seeds) writeFileSync(join(set, name, `photo ${s}.jpg`), await testPhoto(s, 96, 72));
  }
  const cut = (await testPhoto(5, 96, 72)).subarray(0, 300);
  writeFileSync(join(set, 'warm', 'cut.jpg'), cut);
  writeFileSync(join(set, '冷色', 'cut too.jpg'), cut);
  const r = await run(['train', set, '--out', join(root, 'twice.json'), '--model', checkpoint, '--cv', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Embedded 6 photos at [\d.]+ images\/s, none cached \(/);
  assert.match(r.stderr, /skipped warm\/cut\.jpg: IMAGE_CORRUPT/);
  assert.match(r.stderr, /skipped 冷色\/cut too\.jpg: IMAGE_CORRUPT/);
});

test('train given a folder one level too high (its "classes" hold the class folders) says which folder to train on; a dataset\'s splits are refused', async () => {
  const top = join(root, 'layers');
  for (const split of ['val', 'train']) {
    for (const [name, seeds] of [['warm', [0, 11, 16]], ['冷色', [3, 8, 19]]] as const) {
      mkdirSync(join(top, split, name), { recursive: true });
      for (const s of seeds) writeFileSync(join(top, split, name, `photo ${s}.jpg`), await testPhoto(s, 96, 72));
    }
  }
  // train/ and val/ with the same classes: a head of "train" against "val" would mean nothing. Refused before any photo is embedded.
  const splits = await run(['train', top, '--out', join(root, 'layers.json'), '--model', checkpoint, '--cv', '2']);
  assert.equal(splits.code, 2, splits.stderr);
  assert.match(splits.stderr, /layers holds a dataset's splits \(train, val\), each with the same class folders \(warm, 冷色\): train on one split, .*layers\/train, not on the folder above them/);
  assert.ok(!existsSync(join(root, 'layers.json')));
  // Folders of the same classes that are not splits (indoor, outdoor) may be what is meant: trained, with the warning.
  const places = join(root, 'places');
  mkdirSync(places);
  renameSync(join(top, 'train'), join(places, 'indoor'));
  renameSync(join(top, 'val'), join(places, 'outdoor'));
  const r = await run(['train', places, '--out', join(root, 'layers.json'), '--model', checkpoint, '--cv', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /class "indoor" keeps its photos only in subfolders \(warm, 冷色\): if those are the classes, train on .*places\/indoor instead/);
  assert.match(r.stderr, /class "outdoor" keeps its photos only in subfolders/);
  const right = await run(['train', join(places, 'indoor'), '--out', join(root, 'layers.json'), '--model', checkpoint, '--cv', '2']);
  assert.equal(right.code, 0, right.stderr);
  assert.doesNotMatch(right.stderr, /keeps its photos only in subfolders/);
});

test('train reads photos whose names are not UTF-8 (a Latin-1 name from an old camera)', async () => {
  const set = join(root, 'latin');
  for (const [name, seeds] of [['a', [1, 2]], ['b', [3, 4]]] as const) {
    mkdirSync(join(set, name), { recursive: true });
    writeFileSync(join(set, name, `p${seeds[0]}.jpg`), await testPhoto(seeds[0], 96, 96));
    // é as the single byte 0xE9.
    writeFileSync(Buffer.concat([Buffer.from(join(set, name, 'caf')), Buffer.from([0xe9]), Buffer.from(`${seeds[1]}.jpg`)]), await testPhoto(seeds[1], 96, 96));
  }
  const r = await run(['train', set, '--out', join(root, 'latin.json'), '--model', checkpoint, '--reject', 'off']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /a\s+2 photos/);
  assert.match(r.stdout, /b\s+2 photos/);
  assert.doesNotMatch(r.stderr, /cannot be read|skipped/);
  // A class folder named in Latin-1 is a class, named as ls -b shows it.
  const folderName = Buffer.concat([Buffer.from(join(set, 'cl')), Buffer.from([0xe9]), Buffer.from('s')]);
  mkdirSync(folderName);
  for (const seed of [5, 6]) writeFileSync(Buffer.concat([folderName, Buffer.from(`/p${seed}.jpg`)]), await testPhoto(seed, 96, 96));
  const three = await run(['train', set, '--out', join(root, 'latin3.json'), '--model', checkpoint, '--reject', 'off']);
  assert.equal(three.code, 0, three.stderr);
  assert.match(three.stdout, /cl\\xe9s\s+2 photos/);
  assert.deepEqual(JSON.parse(readFileSync(join(root, 'latin3.json'), 'utf8')).classes, ['a', 'b', 'cl\\xe9s']);
  // Trained with --reject off: asking for "unknown" is told it has none, not silently ignored.
  const on = await run(['classify', join(set, 'a', 'p1.jpg'), '--head', join(root, 'latin3.json'), '--model', checkpoint, '--reject', 'on']);
  assert.equal(on.code, 0, on.stderr);
  assert.match(on.stderr, /this head has no "unknown" \(it was trained with --reject off, or with too few photos in a class\), so --reject on changes nothing/);
});

test('photos reached through links are named by their place in the training folder, not by where the links lead', async () => {
  const outside = join(root, 'elsewhere');
  mkdirSync(join(outside, 'bees'), { recursive: true });
  writeFileSync(join(outside, 'shared.jpg'), await testPhoto(5, 96, 96));
  for (const s of [7, 8]) writeFileSync(join(outside, 'bees', `p${s}.jpg`), await testPhoto(s, 96, 96));
  writeFileSync(join(outside, 'bees', 'copy.jpg'), readFileSync(join(outside, 'shared.jpg')));
  const set = join(root, 'linked');
  mkdirSync(join(set, 'ants'), { recursive: true });
  for (const s of [1, 2]) writeFileSync(join(set, 'ants', `p${s}.jpg`), await testPhoto(s, 96, 96));
  symlinkSync(join(outside, 'shared.jpg'), join(set, 'ants', 'link.jpg'));
  symlinkSync(join(outside, 'bees'), join(set, 'bees'));
  const r = await run(['train', set, '--out', join(root, 'linked.json'), '--model', checkpoint, '--reject', 'off']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /bees\s+3 photos/);
  assert.match(r.stderr, /the same photo is in "ants" and "bees": ants\/link\.jpg, bees\/copy\.jpg/);
  assert.doesNotMatch(r.stderr, /\.\.\//);
});

test('train refuses, without the usage text and before embedding, what it cannot use: one class, a folder or an unwritable place as --out, an empty --name', async () => {
  const one = join(root, 'one');
  mkdirSync(join(one, 'only'), { recursive: true });
  writeFileSync(join(one, 'only', 'a.jpg'), await testPhoto(5, 64, 64));
  const r = await run(['train', one, '--out', join(root, 'one.json'), '--model', checkpoint]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /needs at least 2 classes to tell apart; there is only "only"/);
  assert.doesNotMatch(r.stderr, /Usage:|Training head/, 'refused before the model loads');
  // What is missing is said in words, as for a photo.
  const missing = await run(['train', join(root, 'no-such-set'), '--out', join(root, 'x.json'), '--model', checkpoint]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Cannot read the training folder .*no-such-set: no such folder \(ENOENT\)/);
  const noHead = await run(['classify', join(one, 'only', 'a.jpg'), '--head', join(root, 'no-head.json'), '--model', checkpoint]);
  assert.equal(noHead.code, 2);
  assert.match(noHead.stderr, /--head .*no-head\.json cannot be read: no such file \(ENOENT\)/);
  // Exported for serve (NAME=FILE), the variable is named when it does not lead to a head, and its file is read when it does.
  const fromEnv = await run(['classify', join(one, 'only', 'a.jpg'), '--model', checkpoint], { RESNET_SERVE_HEAD: `bugs=${join(root, 'no-head.json')}` });
  assert.match(fromEnv.stderr, /--head .*no-head\.json cannot be read: no such file \(ENOENT\) \(set by the environment variable RESNET_SERVE_HEAD\)/);
  const named = await run(['classify', join(one, 'only', 'a.jpg'), '--model', checkpoint, '--json'], { RESNET_SERVE_HEAD: `latin=${join(root, 'latin3.json')}` });
  assert.equal(named.code, 0, named.stderr);
  assert.ok(JSON.parse(named.stdout).predictions.every((p: { label: string }) => ['a', 'b', 'cl\\xe9s', 'unknown'].includes(p.label)), named.stdout);
  // serve with a head of another model and no --model: told which model, before the official one is looked for.
  const serving = await run(['serve', '--port', '0', '--head', join(root, 'latin3.json')]);
  assert.equal(serving.code, 2, serving.stderr);
  assert.match(serving.stderr, /latin3\.json was trained on .* give that model with --model/);
  assert.doesNotMatch(serving.stderr, /MODEL_NOT_FOUND|download/);
  const two = await run(['classify', join(one, 'only', 'a.jpg'), '--model', checkpoint], { RESNET_SERVE_HEAD: 'a=a.json,b=b.json' });
  assert.match(two.stderr, /--head names 2 heads; classify answers with one \(set by the environment variable RESNET_SERVE_HEAD\)/);
  // A place the head cannot be written is found before any photo is embedded, not after.
  const blocked = await run(['train', join(root, 'set'), '--out', join(root, 'set', 'warm', 'photo 0.jpg', 'head.json'), '--model', checkpoint]);
  assert.equal(blocked.code, 1, blocked.stderr);
  assert.match(blocked.stderr, /Cannot write .*head\.json: .*(ENOTDIR|EEXIST)/);
  assert.doesNotMatch(blocked.stderr, /Training head|Embedded/);
  // Permission bits say nothing for root or a folder like /proc: the place is tried before the work.
  if (existsSync('/proc/self')) {
    const proc = await run(['train', join(root, 'set'), '--out', '/proc/resnet-serve-head.json', '--model', checkpoint]);
    assert.equal(proc.code, 1, proc.stderr);
    assert.match(proc.stderr, /Cannot write \/proc\/resnet-serve-head\.json: /);
    assert.doesNotMatch(proc.stderr, /Training head|Embedded/);
  }
  const typo = await run(['train', join(root, 'set'), '--out', join(root, 'no-such-folder', 'deeper', 'head.json'), '--model', checkpoint]);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /--out .*head\.json: there is no folder .*no-such-folder\/deeper to write it in/);
  assert.equal(existsSync(join(root, 'no-such-folder')), false, 'no folder is made for a mistyped path');
  const folder = await run(['train', join(root, 'set'), '--out', root, '--model', checkpoint]);
  assert.equal(folder.code, 2);
  assert.match(folder.stderr, /is a folder; give the head file's name/);
  const empty = await run(['train', join(root, 'set'), '--out', join(root, 'x.json'), '--name', ' ', '--model', checkpoint]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /--name cannot be empty/);
  const contradiction = await run(['train', join(root, 'set'), '--out', join(root, 'x.json'), '--reject', 'off', '--reject-rate', '0.05', '--model', checkpoint]);
  assert.equal(contradiction.code, 2);
  assert.match(contradiction.stderr, /--reject-rate goes with rejection on .*: drop --reject off or --reject-rate/);
  for (const bad of ['0.9', '0', '', '0x1', '1e-1']) {
    const r = await run(['train', join(root, 'set'), '--out', join(root, 'x.json'), '--holdout', bad, '--model', checkpoint]);
    assert.equal(r.code, 2, `--holdout ${bad}: ${r.stderr}`);
    assert.match(r.stderr, /--holdout must be a fraction above 0 and at most 0\.5, got/);
  }
});

test('train with no photo it can read names the classes and the files, without a stack trace; a link to a photo beside the classes is not a class', async () => {
  const unreadable = join(root, 'unreadable');
  for (const c of ['a', 'b']) {
    mkdirSync(join(unreadable, c), { recursive: true });
    writeFileSync(join(unreadable, c, 'x.jpg'), 'not a photo');
  }
  writeFileSync(join(unreadable, 'b', 'empty.jpg'), '');
  const r = await run(['train', unreadable, '--out', join(root, 'u.json'), '--model', checkpoint]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /skipped a\/x\.jpg: not an image/);
  assert.match(r.stderr, /skipped b\/empty\.jpg: an empty file/);
  assert.match(r.stderr, /Every class needs photos; there are no photos in "a", "b"/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const linked = join(root, 'link-beside');
  for (const c of ['warm', 'cool']) {
    mkdirSync(join(linked, c), { recursive: true });
    for (const s of [1, 2, 3]) writeFileSync(join(linked, c, `${s}.jpg`), await testPhoto(s + (c === 'warm' ? 0 : 10), 96, 64));
  }
  symlinkSync(join(linked, 'warm', '1.jpg'), join(linked, 'link.jpg'));
  symlinkSync(linked, join(linked, 'loop'));
  const l = await run(['train', linked, '--out', join(root, 'l.json'), '--holdout', '0.3', '--model', checkpoint]);
  assert.equal(l.code, 0, l.stderr);
  assert.deepEqual(JSON.parse(readFileSync(join(root, 'l.json'), 'utf8')).classes, ['cool', 'warm']);
  assert.match(l.stderr, /ignored link\.jpg: photos belong in a class folder/);
  assert.match(l.stderr, /skipped loop: a link back to the training folder, not a class/);
  // 0.3 holds out one of three equal parts: the report says 33%, what was really held out.
  assert.match(l.stdout, /on 33% held out/);
});

test('classify --head answers with its classes; a head of another model or a changed head file is refused', async () => {
  const out = join(root, 'colours2.json');
  assert.equal((await run(['train', join(root, 'set'), '--out', out, '--model', checkpoint, '--cv', '2'])).code, 0);
  const photo = join(root, 'set', 'warm', 'photo 11.jpg');
  const table = await run(['classify', photo, '--head', out, '--model', checkpoint]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /1\. (warm|冷色|rare) +\d+\.\d\d%/);
  const json = JSON.parse((await run(['classify', photo, '--head', out, '--model', checkpoint, '--json'])).stdout);
  assert.equal(typeof json.unknown, 'boolean');
  // "unknown" first when the head refuses the photo, then its three classes.
  if (json.unknown) assert.equal(json.predictions[0].label, 'unknown');
  const classes = json.unknown ? json.predictions.slice(1) : json.predictions;
  assert.ok(classes.length === 3 && classes.every((p: { label: string }) => ['warm', '冷色', 'rare'].includes(p.label)), JSON.stringify(json.predictions));
  // Where it looked for the head's answer: the same answer, and its heatmaps.
  const maps = join(root, 'head-maps');
  const explained = await run(['classify', photo, '--head', out, '--model', checkpoint, '--json', '--explain', maps]);
  assert.equal(explained.code, 0, explained.stderr);
  const withMap = JSON.parse(explained.stdout);
  assert.deepEqual(withMap.predictions, json.predictions);
  assert.equal(withMap.unknown, json.unknown);
  assert.ok(existsSync(withMap.heatmap), explained.stdout);
  assert.deepEqual(readdirSync(maps).sort(), [basename(withMap.heatmap), basename(withMap.heatmap).replace(/\.png$/, '.photo.png')].sort());
  // In the other precision it answers, and says its scores may differ from training's.
  const inInt8 = await run(['classify', photo, '--head', out, '--model', checkpoint, '--precision', 'int8']);
  assert.equal(inInt8.code, 0, inInt8.stderr);
  assert.match(inInt8.stderr, /colours2\.json was trained on fp32 embeddings and the model runs in int8 now: .*--precision fp32/);
  assert.doesNotMatch(table.stderr, /embeddings and the model runs in/);
  // serve says so at start, and /v1/heads beside the head.
  const served = await startServe(BIN, ['--port', '0', '--model', checkpoint, '--precision', 'int8', '--head', `colours=${out}`], env);
  try {
    assert.match(served.stderr(), /--head colours=\S*colours2\.json was trained on fp32 embeddings and the model runs in int8 now/);
    const { heads } = (await (await fetch(`${served.url}/v1/heads`)).json()) as { heads: { name: string; note?: string }[] };
    assert.match(heads.find((h) => h.name === 'colours')?.note ?? '', /trained on fp32 embeddings and the model runs in int8 now/);
    // What the int8 model was calibrated on: said at start, and named (never its folder) in /v1/models.
    assert.match(served.stderr(), /\(checkpoint, int8, calibrated on the built-in photos, sha256 [0-9a-f]{12}\) ready at/);
    const { models } = (await (await fetch(`${served.url}/v1/models`)).json()) as { models: { precision: string; calibration?: { photos: string; id: string } }[] };
    assert.equal(models[0].precision, 'int8');
    assert.equal(models[0].calibration?.photos, 'built-in');
    assert.match(models[0].calibration?.id ?? '', /^[0-9a-f]{16}$/);
    // Each answer and the model's metric name the same calibration, so a result can be traced to it.
    const form = new FormData();
    form.append('file', new Blob([readFileSync(photo)]), 'photo.jpg');
    const answer = (await (await fetch(`${served.url}/v1/classify`, { method: 'POST', body: form })).json()) as { model: { precision: string; calibration?: string } };
    assert.deepEqual([answer.model.precision, answer.model.calibration], ['int8', models[0].calibration?.id]);
    const metrics = await (await fetch(`${served.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`resnet_model_info\\{[^}]*precision="int8",calibration="${models[0].calibration?.id}"`));
  } finally {
    served.child.kill('SIGTERM');
    await new Promise((resolve) => served.child.once('exit', resolve));
  }
  const sameServed = await startServe(BIN, ['--port', '0', '--model', checkpoint, '--head', `colours=${out}`], env);
  try {
    assert.doesNotMatch(sameServed.stderr(), /embeddings and the model runs in/);
  } finally {
    sameServed.child.kill('SIGTERM');
    await new Promise((resolve) => sameServed.child.once('exit', resolve));
  }
  const wrongModel = await run(['classify', photo, '--head', out, '--model', otherCheckpoint]);
  assert.notEqual(wrongModel.code, 0);
  assert.match(wrongModel.stderr, /was trained on resnet18 .* not on resnet18/);
  const changed = join(root, 'changed.json');
  writeFileSync(changed, readFileSync(out, 'utf8').replace('"rare"', '"seldom"'));
  const tampered = await run(['classify', photo, '--head', changed, '--model', checkpoint]);
  assert.notEqual(tampered.code, 0);
  assert.match(tampered.stderr, /changed or damaged after training/);
  // Without --model the official resnet18 would be loaded (downloaded): a head of another model says which model it needs first.
  const noModel = await run(['classify', photo, '--head', out]);
  assert.equal(noModel.code, 2, noModel.stderr);
  assert.match(noModel.stderr, /colours2\.json was trained on resnet18 \(sha256 [0-9a-f]{12}…\): give that model with --model/);
  assert.doesNotMatch(noModel.stderr, /[Dd]ownload/);
  assert.doesNotMatch(noModel.stderr, /--help/, 'one line, no pointer to the usage');
});

test('embed prints each image\'s embedding, as JSON lines or readable lines', async () => {
  const photo = join(root, 'set', 'warm', 'photo 0.jpg');
  const json = await run(['embed', photo, join(root, 'set', 'warm', 'notes.txt'), '--model', checkpoint, '--json']);
  assert.equal(json.code, 1);
  const [good, bad] = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(good.dim, 512);
  assert.equal(good.embedding.length, 512);
  assert.equal(bad.error.code, 'IMAGE_UNSUPPORTED');
  const text = await run(['embed', photo, '--model', checkpoint]);
  assert.match(text.stdout, /photo 0\.jpg {2}512-d {2}norm \d+\.\d{3} {2}\[/);
});

#!/usr/bin/env node
/**
 * `npm run eval:library`: the photo library on real photos, with the real
 * pretrained MobileNetV2 of ../shared, through our own pipeline:
 * - search precision of the first 20 results (or of all relevant photos when
 *   fewer) for the everyday queries, on imagenet-sample-500 (true class in
 *   each file name), and the recall of "car";
 * - how often each hymenoptera photo's 5 nearest look-alikes are of its class;
 * - near duplicates made from 100 real photos (50% size, JPEG quality 60,
 *   10% crop, EXIF rotation) among all the others: found whole, false groups.
 * Writes bench/results/eval-library.json.
 */
import { cpSync, existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ClassificationService } from '../dist/classify/service.js';
import { CategoryMap } from '../dist/library/categories.js';
import { TagIndex } from '../dist/library/index-db.js';
import { LibraryReader } from '../dist/library/search.js';
import { tagFolders } from '../dist/library/tagger.js';
import { carRecall, judgeDupes, makeNearDuplicates, neighbourAgreement, sampleTruth, searchPrecision } from '../dist/testing/library-eval.js';
import { HYMENOPTERA_DIR, IMAGENET_SAMPLE_DIR, PRETRAINED_ONNX } from '../dist/testing/shared.js';
import { workDir } from './lib.mjs';

if (!existsSync(PRETRAINED_ONNX) || !existsSync(IMAGENET_SAMPLE_DIR)) {
  console.error(`eval:library needs ${PRETRAINED_ONNX} and ${IMAGENET_SAMPLE_DIR} (the shared folder)`);
  process.exit(2);
}
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const work = workDir('rs-eval-lib-');
const service = await ClassificationService.start({ model: PRETRAINED_ONNX, cacheDir: join(work, 'cache') });
const settings = { topK: 5, minScore: 0.1 };
async function tag(name, roots) {
  const index = TagIndex.create(join(work, `${name}.sqlite`));
  const t0 = performance.now();
  const summary = await tagFolders(service, index, { roots, settings, lang: 'both', xmp: false, categories: CategoryMap.imagenet(), jobs: 4 });
  index.close();
  console.log(`Tagged ${summary.tagged} photos (${name}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return LibraryReader.open(join(work, `${name}.sqlite`));
}

// Search.
const sample = join(work, 'sample');
cpSync(IMAGENET_SAMPLE_DIR, sample, { recursive: true });
const reader = await tag('sample', [sample]);
const truth = sampleTruth(sample, reader.labels.en);
const rows = searchPrecision(reader, truth);
console.log('\n| query | relevant photos | results judged | precision |\n| --- | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.query} | ${r.relevant} | ${r.judged} | ${pct(r.precision)} |`);
const recall = carRecall(reader);
console.log(`\nRecall of "car": ${recall.found} of the ${recall.cars} photos whose top label is a car class (${pct(recall.recall)})`);
reader.close();

// Look-alikes.
const hym = await tag('hymenoptera', [HYMENOPTERA_DIR]);
const agreement = await neighbourAgreement(hym, (p) => (p.includes('/ants/') ? 'ants' : 'bees'));
console.log(`\nLook-alikes: ${pct(agreement)} of each hymenoptera photo's 5 nearest photos are of its class`);
hym.close();

// Near duplicates.
const dupes = join(work, 'dupes');
mkdirSync(dupes);
cpSync(IMAGENET_SAMPLE_DIR, join(dupes, 'sample'), { recursive: true });
cpSync(HYMENOPTERA_DIR, join(dupes, 'hymenoptera'), { recursive: true });
const { readdirSync } = await import('node:fs');
const all = [...readdirSync(join(dupes, 'sample')).map((f) => join(dupes, 'sample', f))];
for (const split of ['train', 'val']) for (const c of ['ants', 'bees']) for (const f of readdirSync(join(dupes, 'hymenoptera', split, c))) all.push(join(dupes, 'hymenoptera', split, c, f));
all.sort();
const originals = all.filter((_, i) => i % 9 === 0).slice(0, 100);
const made = await makeNearDuplicates(originals, join(dupes, 'variants'));
const library = await tag('dupes', [dupes]);
const t0 = performance.now();
const groups = await library.duplicates();
const dupesMs = performance.now() - t0;
const verdict = judgeDupes(groups, originals.map((o) => [realpathSync(o), ...made.get(o).map((v) => realpathSync(v))]));
console.log(`\nNear duplicates: ${verdict.foundWhole} of ${verdict.sets} sets found whole, ${verdict.falseGroups} false groups, among ${all.length + 400} photos (${(dupesMs / 1000).toFixed(1)} s)`);
for (const m of verdict.missed.slice(0, 5)) console.log(`  missed: ${m.map((p) => p.split('/').slice(-2).join('/')).join(' ')}`);
library.close();
await service.close();

const out = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'eval-library.json'), JSON.stringify({ precision: rows, carRecall: recall, lookAlikes: agreement, dupes: { ...verdict, missed: verdict.missed.length, ms: dupesMs } }, null, 2));

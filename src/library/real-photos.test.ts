/**
 * The photo library on real photos, with the real pretrained MobileNetV2 of
 * ../shared (the measured goals; `npm run eval:library` prints the
 * same figures as tables): search precision and the recall of "car" on
 * imagenet-sample-500, look-alikes on hymenoptera, and near duplicates made
 * from 100 real photos among all the others.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClassificationService } from '../classify/service.js';
import { carRecall, judgeDupes, makeNearDuplicates, neighbourAgreement, sampleTruth, searchPrecision } from '../testing/library-eval.js';
import { HYMENOPTERA_DIR, IMAGENET_SAMPLE_DIR, PRETRAINED_ONNX, skipWithoutDatasets } from '../testing/shared.js';
import { CategoryMap } from './categories.js';
import { TagIndex } from './index-db.js';
import { LibraryReader } from './search.js';
import { tagFolders } from './tagger.js';
import { scratchDir } from '../testing/scratch.js';

describe('a real photo library, with the real MobileNetV2', { skip: skipWithoutDatasets }, () => {
  let work: string;
  let service: ClassificationService;
  const tag = async (name: string, roots: string[]): Promise<LibraryReader> => {
    const index = TagIndex.create(join(work, `${name}.sqlite`));
    await tagFolders(service, index, { roots, settings: { topK: 5, minScore: 0.1 }, lang: 'both', xmp: false, categories: CategoryMap.imagenet(), jobs: 4 });
    index.close();
    return LibraryReader.open(join(work, `${name}.sqlite`));
  };

  before(async () => {
    work = await scratchDir('rs-real-lib-');
    service = await ClassificationService.start({ model: PRETRAINED_ONNX, cacheDir: join(work, 'cache') });
  });
  after(async () => {
    await service?.close();
  });

  test('search: precision of the first 20 results ≥ 90% for everyday words in English and Chinese; "car" finds ≥ 80% of the cars', async () => {
    const sample = join(work, 'sample');
    cpSync(IMAGENET_SAMPLE_DIR, sample, { recursive: true });
    const reader = await tag('sample', [sample]);
    try {
      const truth = sampleTruth(sample, reader.labels.en);
      assert.equal(truth.size, 500);
      for (const row of searchPrecision(reader, truth)) {
        assert.ok(row.relevant > 0, `${row.query}: some photos are relevant`);
        assert.ok(row.precision >= 0.9, `${row.query}: precision ${row.precision} over ${row.judged} results`);
      }
      const recall = carRecall(reader);
      assert.ok(recall.cars > 0 && recall.recall >= 0.8, JSON.stringify(recall));
    } finally {
      reader.close();
    }
  });

  test('look-alikes: ≥ 90% of each hymenoptera photo\'s 5 nearest photos are of its class', async () => {
    const reader = await tag('hymenoptera', [HYMENOPTERA_DIR]);
    try {
      const agreement = await neighbourAgreement(reader, (p) => (p.includes('/ants/') ? 'ants' : 'bees'));
      assert.ok(agreement >= 0.9, `agreement ${agreement}`);
    } finally {
      reader.close();
    }
  });

  test('near duplicates of 100 photos (half size, JPEG q60, 10% crop, EXIF rotation) are all found, with no false group', async () => {
    const library = join(work, 'dupes');
    cpSync(IMAGENET_SAMPLE_DIR, join(library, 'sample'), { recursive: true });
    cpSync(HYMENOPTERA_DIR, join(library, 'hymenoptera'), { recursive: true });
    const photos = readdirSync(join(library, 'sample')).map((f) => join(library, 'sample', f));
    for (const split of ['train', 'val']) for (const c of ['ants', 'bees']) for (const f of readdirSync(join(library, 'hymenoptera', split, c))) photos.push(join(library, 'hymenoptera', split, c, f));
    photos.sort();
    const originals = photos.filter((_, i) => i % 9 === 0).slice(0, 100);
    const made = await makeNearDuplicates(originals, join(library, 'variants'));
    const reader = await tag('dupes', [library]);
    try {
      const verdict = judgeDupes(await reader.duplicates(), originals.map((o) => [realpathSync(o), ...(made.get(o) as string[]).map((v) => realpathSync(v))]));
      assert.equal(verdict.falseGroups, 0);
      assert.equal(verdict.foundWhole, 100, `missed: ${JSON.stringify(verdict.missed.slice(0, 3))}`);
    } finally {
      reader.close();
    }
  });
});

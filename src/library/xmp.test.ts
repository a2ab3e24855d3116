/**
 * Sidecars other tools wrote, merged into and read back by the tools photo
 * managers use: exiftool (`-validate`) and exiv2 (the library of digiKam and
 * darktable). Both are in Debian; CI installs them.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { testPhoto } from '../testing/fixtures.js';
import { hierarchyOf } from './derive.js';
import { sidecarPaths } from './sidecars.js';
import { holdsOthers, readKeywords, updateXmp } from './xmp.js';
import { scratchDir } from '../testing/scratch.js';

function tool(name: string): boolean {
  try {
    execFileSync(name, [name === 'exiv2' ? '--version' : '-ver'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skipTools = tool('exiftool') && tool('exiv2') ? false : 'needs exiftool and exiv2 (apt-get install libimage-exiftool-perl exiv2)';

let dir: string;
let photo: string;
before(async () => {
  dir = await scratchDir('rs-xmp-');
  photo = join(dir, 'IMG_0001.jpg');
  writeFileSync(photo, await testPhoto(3, 200, 150));
});

/** What exiftool and exiv2 make of a sidecar: exiftool's verdict, and exiv2's keywords (it refuses the whole file on a duplicate property). */
function readBack(path: string): { validate: string; subject: string[]; hierarchy: string[]; tagsList: string[]; rating: string | null; title: string | null } {
  const validate = execFileSync('exiftool', ['-validate', '-warning', '-a', '-s3', path], { encoding: 'utf8' }).trim();
  const exiv2 = execFileSync('exiv2', ['-px', path], { encoding: 'utf8' });
  const value = (key: string): string | null => exiv2.split('\n').find((l) => l.startsWith(`${key} `))?.replace(/^\S+\s+\S+\s+\d+\s+/, '') ?? null;
  const list = (key: string): string[] => (value(key) ?? '').split(', ').filter(Boolean);
  return { validate, subject: list('Xmp.dc.subject'), hierarchy: list('Xmp.lr.hierarchicalSubject'), tagsList: list('Xmp.digiKam.TagsList'), rating: value('Xmp.xmp.Rating'), title: value('Xmp.dc.title') };
}

describe('merging into sidecars other tools wrote', { skip: skipTools }, () => {
  test('exiftool writes one rdf:Description per namespace: our keywords go into its dc:subject, and exiftool and exiv2 still read it all', () => {
    const sidecar = `${photo}.xmp`;
    execFileSync('exiftool', ['-q', '-o', sidecar, '-XMP-dc:Subject=dog', '-XMP-dc:Subject=family', '-XMP-lr:HierarchicalSubject=people|family', '-XMP-xmp:Rating=4', '-XMP-dc:Title=Summer', photo]);
    const merged = updateXmp(readFileSync(sidecar, 'utf8'), { flat: ['dog', 'golden retriever', 'dog food'], hierarchical: [['animal', 'dog', 'golden retriever']] });
    writeFileSync(sidecar, merged);
    assert.equal((merged.match(/<dc:subject>/g) ?? []).length, 1, 'one dc:subject');
    assert.equal((merged.match(/<lr:hierarchicalSubject>/g) ?? []).length, 1, 'one lr:hierarchicalSubject');
    const first = readBack(sidecar);
    assert.equal(first.validate, 'OK');
    assert.deepEqual(first.subject, ['dog', 'family', 'golden retriever', 'dog food']);
    assert.deepEqual(first.hierarchy, ['people|family', 'resnet-serve|animal|dog|golden retriever']);
    assert.deepEqual(first.tagsList, ['resnet-serve/animal/dog/golden retriever']);
    assert.equal(first.rating, '4');
    assert.match(first.title ?? '', /Summer/);

    // The next run's answer is a cat: our old keywords go, the user's "dog" (which we had not added) stays.
    writeFileSync(sidecar, updateXmp(readFileSync(sidecar, 'utf8'), { flat: ['tabby', 'cat'], hierarchical: [['animal', 'cat', 'tabby']] }));
    const second = readBack(sidecar);
    assert.equal(second.validate, 'OK');
    assert.deepEqual(second.subject, ['dog', 'family', 'tabby', 'cat']);
    assert.deepEqual(second.hierarchy, ['people|family', 'resnet-serve|animal|cat|tabby']);
    assert.deepEqual(second.tagsList, ['resnet-serve/animal/cat/tabby']);
    assert.equal(second.rating, '4');
  });

  test('a sidecar our earlier version broke (two dc:subject) is repaired; a file with our keyword under another name keeps it', () => {
    const sidecar = join(dir, 'broken.xmp');
    writeFileSync(
      sidecar,
      `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>beach</rdf:li></rdf:Bag></dc:subject></rdf:Description>
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:lr="http://ns.adobe.com/lightroom/1.0/"><dc:subject><rdf:Bag><rdf:li>seashore</rdf:li></rdf:Bag></dc:subject>
  <lr:hierarchicalSubject><rdf:Bag><rdf:li>resnet-serve|place|landscape|seashore</rdf:li></rdf:Bag></lr:hierarchicalSubject></rdf:Description>
</rdf:RDF></x:xmpmeta>`,
    );
    const refused = spawnSync('exiv2', ['-px', sidecar], { encoding: 'utf8' });
    assert.equal(refused.stdout, '', 'exiv2 reads nothing of the broken file');
    assert.match(refused.stderr, /Duplicate property/);
    writeFileSync(sidecar, updateXmp(readFileSync(sidecar, 'utf8'), { flat: ['sandbar'], hierarchical: [['place', 'landscape', 'sandbar']] }));
    const back = readBack(sidecar);
    assert.equal(back.validate, 'OK');
    assert.deepEqual(back.subject, ['beach', 'seashore', 'sandbar']);
    assert.deepEqual(back.hierarchy, ['resnet-serve|place|landscape|sandbar']);
  });
});

describe('our keywords, and only ours', () => {
  test('category keywords of an earlier run are removed; a keyword that was there before is never taken', () => {
    const one = updateXmp(null, { flat: ['dog', 'golden retriever', 'animal'], hierarchical: [['animal', 'dog', 'golden retriever']] });
    const two = updateXmp(one, { flat: ['car', 'cab', 'vehicle'], hierarchical: [['thing', 'vehicle', 'cab']] });
    assert.deepEqual(readKeywords(two).subject, ['car', 'cab', 'vehicle']);
    const user = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
 <dc:subject><rdf:Bag><rdf:li>dog</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>`;
    const mine = updateXmp(user, { flat: ['dog', 'puppy'], hierarchical: [] });
    const again = updateXmp(mine, { flat: ['cat'], hierarchical: [] });
    assert.deepEqual(readKeywords(again).subject, ['dog', 'cat']);
  });

  test('a keyword the user adds again after we wrote it (exiftool "+=" keeps both copies) is the user\'s from then on', () => {
    const ours = updateXmp(null, { flat: ['seashore', 'promontory'], hierarchical: [['place', 'promontory']] });
    const twice = (text: string, item: string): string => text.replace(`<rdf:li>${item}</rdf:li>`, `<rdf:li>${item}</rdf:li><rdf:li>${item}</rdf:li>`);
    const edited = twice(twice(ours, 'promontory'), 'resnet-serve|place|promontory');
    assert.equal(readKeywords(edited).subject.filter((k) => k === 'promontory').length, 2);
    const next = updateXmp(edited, { flat: ['seashore'], hierarchical: [['place', 'sandbar']] });
    assert.deepEqual(readKeywords(next).subject, ['promontory', 'seashore']);
    assert.deepEqual(readKeywords(next).hierarchicalSubject, ['resnet-serve|place|promontory', 'resnet-serve|place|sandbar']);
    // Recorded as the user's: a later run that no longer wants it leaves it too.
    const later = updateXmp(next, { flat: ['cliff'], hierarchical: [] });
    assert.deepEqual(readKeywords(later).subject, ['promontory', 'cliff']);
    assert.deepEqual(readKeywords(later).hierarchicalSubject, ['resnet-serve|place|promontory']);
  });

  test('a sidecar holding only what we wrote is told apart from one holding the user\'s keywords or another tool\'s fields', () => {
    const ours = updateXmp(null, { flat: ['dog', 'animal'], hierarchical: [['animal', 'dog']] });
    assert.equal(holdsOthers(ours), false);
    assert.equal(holdsOthers(updateXmp(ours, { flat: ['cat'], hierarchical: [] })), false);
    const withKeyword = ours.replace('<rdf:li>dog</rdf:li>', '<rdf:li>dog</rdf:li><rdf:li>Grandma</rdf:li>');
    assert.equal(holdsOthers(withKeyword), true);
    const rated = ours.replace('rdf:about=""', 'rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"');
    assert.equal(holdsOthers(rated), true);
    const titled = ours.replace('<dc:subject>', '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Mimi</rdf:li></rdf:Alt></dc:title><dc:subject>');
    assert.equal(holdsOthers(titled), true);
    assert.equal(holdsOthers('plain text notes'), false);
  });

  test('a sidecar that is not well-formed XMP is refused with the reason, never rewritten', () => {
    for (const text of ['<x:xmpmeta><rdf:RDF>', 'plain text notes', '<?xml version="1.0"?><note>no RDF</note>']) {
      assert.throws(() => updateXmp(text, { flat: ['x'], hierarchical: [] }), (err) => isResnetServeError(err, 'SIDECAR_INVALID') && /left as it is/.test(err.message), text);
    }
  });

  test('hierarchies never repeat a level', () => {
    assert.deepEqual(hierarchyOf(['food', 'food', 'trifle']), ['food', 'trifle']);
    assert.deepEqual(hierarchyOf(['person', 'person', 'scuba diver']), ['person', 'scuba diver']);
    assert.deepEqual(hierarchyOf(['', 'dog', 'pug']), ['dog', 'pug']);
  });
});

describe('sidecar names', () => {
  test('IMG.jpg and IMG.png never share IMG.xmp; an existing sidecar under either name is the one used', () => {
    const photos = ['/p/IMG_1.jpg', '/p/IMG_1.png', '/p/IMG_2.jpg', '/p/IMG_3.jpg', '/p/IMG_4.jpg'];
    const existing = new Set(['/p/IMG_2.xmp', '/p/IMG_3.jpg.xmp']);
    const replace = sidecarPaths(photos, 'replace', (p) => existing.has(p));
    assert.equal(replace.get('/p/IMG_1.jpg'), '/p/IMG_1.jpg.xmp');
    assert.equal(replace.get('/p/IMG_1.png'), '/p/IMG_1.png.xmp');
    assert.equal(replace.get('/p/IMG_2.jpg'), '/p/IMG_2.xmp');
    assert.equal(replace.get('/p/IMG_3.jpg'), '/p/IMG_3.jpg.xmp', 'the existing long name, not a new short one');
    assert.equal(replace.get('/p/IMG_4.jpg'), '/p/IMG_4.xmp');
    const append = sidecarPaths(photos, 'append', (p) => existing.has(p));
    assert.equal(append.get('/p/IMG_2.jpg'), '/p/IMG_2.xmp', 'the existing short name, not a new long one');
    assert.equal(append.get('/p/IMG_4.jpg'), '/p/IMG_4.jpg.xmp');
  });
});

/**
 * The Library view in a real browser (Debian's Chromium via playwright-core):
 * grid, search, category filter, a photo's dialog with its look-alikes, the
 * duplicates, by keyboard; on a desktop in English and on a 360-px phone in
 * 中文, dark. Screenshots go to test-output/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { ClassificationService } from '../classify/service.js';
import { CategoryMap } from '../library/categories.js';
import { TagIndex } from '../library/index-db.js';
import { tagFolders } from '../library/tagger.js';
import { testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { REPO_ROOT } from '../testing/shared.js';
import { startServer, type RunningServer } from './server.js';
import { scratchDir } from '../testing/scratch.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
const OUT = join(REPO_ROOT, 'test-output');

describe('the Library view in Chromium', { skip }, () => {
  let server: RunningServer;
  let browser: Browser;
  let label: string;

  before(async () => {
    const { path: model } = await writeRandomCheckpoint('resnet18', 46);
    const cacheDir = await scratchDir('rs-gallery-page-');
    const dir = await scratchDir('rs-gallery-lib-');
    mkdirSync(join(dir, '2024 夏天'));
    for (let i = 0; i < 14; i++) writeFileSync(join(dir, i % 2 ? '2024 夏天' : '', `IMG_${i}.jpg`), await testPhoto(i + 5, 400, 300));
    writeFileSync(join(dir, '2024 夏天', 'IMG_0 copy.jpg'), readFileSync(join(dir, 'IMG_0.jpg')));
    writeFileSync(join(dir, 'IMG_0 copy 2.jpg'), readFileSync(join(dir, 'IMG_0.jpg')));
    const db = join(cacheDir, 'tags.sqlite');
    const tagging = await ClassificationService.start({ model, cacheDir, workers: 1, threads: 2 });
    const index = TagIndex.create(db);
    await tagFolders(tagging, index, { roots: [dir], settings: { topK: 5, minScore: 0 }, lang: 'both', xmp: false, categories: CategoryMap.imagenet(), jobs: 2 });
    label = (index.db.prepare("SELECT label_en FROM tags WHERE kind = 'label' ORDER BY score DESC LIMIT 1").get() as { label_en: string }).label_en;
    index.close();
    await tagging.close();
    server = await startServer({ port: 0, service: { model, cacheDir, workers: 1, threads: 2 }, libraryIndex: db });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    mkdirSync(OUT, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('desktop: browse, search, open a photo and its look-alikes by keyboard, see the duplicates', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
    await page.goto(server.url);
    await page.locator('#library-link:not([hidden])').waitFor();
    await page.click('#library-link');
    await page.waitForFunction(() => document.querySelectorAll('#gallery img[src]').length === 16);
    assert.match((await page.locator('#library-summary').textContent()) ?? '', /16 photos/);
    // Each tile's score stays in view whatever the label's length: the label gives way with an ellipsis.
    const captions = await page.locator('#gallery .caption').evaluateAll((all) => all.map((c) => {
      const tail = c.querySelector('.caption-tail');
      const box = c.getBoundingClientRect();
      const end = tail?.getBoundingClientRect();
      return { tail: tail?.textContent ?? '', inside: !!end && end.right <= box.right + 0.5 && end.width > 0 };
    }));
    assert.equal(captions.length, 16);
    for (const c of captions) assert.ok(/^(<0\.1|\d+(\.\d)?)%$/.test(c.tail) && c.inside, JSON.stringify(c));
    // Search for a word of a label the random model gave.
    const word = label.split(' ').pop() as string;
    const searches: string[] = [];
    page.on('request', (r) => {
      if (/\/v1\/library\/photos\?/.test(r.url())) searches.push(r.url());
    });
    await page.fill('#library-q', word);
    await page.press('#library-q', 'Enter');
    await page.waitForFunction(() => /photos?$/.test(document.getElementById('library-message')?.textContent ?? ''));
    const shown = await page.locator('#gallery li').count();
    assert.ok(shown >= 1 && shown <= 16);
    assert.equal(searches.length, 1, `one request per search, not ${searches.length}`);
    // A reload keeps the search (this tab only), in the box and in force.
    await page.reload();
    await page.waitForFunction((n) => document.querySelectorAll('#gallery li').length === n && /photos?$/.test(document.getElementById('library-message')?.textContent ?? ''), shown);
    assert.equal(await page.locator('#library-q').inputValue(), word);
    // A refused search (a single letter) says why and shows no photos: the last search's would look like its answer.
    await page.fill('#library-q', 'x');
    await page.press('#library-q', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 0);
    assert.match((await page.locator('#library-message').textContent()) ?? '', /search word is too short/);
    // Erasing the words, then choosing "all categories" from the menu: the erased words no longer filter.
    await page.fill('#library-q', 'zzzznothing');
    await page.press('#library-q', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 0);
    await page.fill('#library-q', '');
    await page.locator('#library-category').dispatchEvent('change');
    await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 16);
    // Keyboard: Tab from the search box reaches the photos; Enter opens one; Escape closes it.
    await page.fill('#library-q', '');
    // The search draws the gallery anew: the photo focused must be one of the new drawing (a button replaced under the focus takes no Enter).
    const drawnBefore = await page.locator('#gallery li:first-child button').elementHandle();
    await page.press('#library-q', 'Enter');
    await page.waitForFunction((old) => !old?.isConnected && document.querySelectorAll('#gallery li').length === 16, drawnBefore);
    await page.locator('#gallery li:first-child button').focus();
    await page.keyboard.press('Enter');
    await page.locator('#photo-dialog[open]').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#photo-like li').length > 0 && !!(document.getElementById('photo-preview') as HTMLImageElement).src);
    assert.ok((await page.locator('#photo-labels li').count()) > 0);
    // The first photo is a copy: its two other copies are one look-alike, counted and said as copies (not "100.0% alike").
    assert.match((await page.locator('#photo-like li:first-child .caption').textContent()) ?? '', /2 exact copies$/);
    // Each label row reads like a card's: the label, then its percentage on the same line, the bar below.
    const [labelBox, pctBox, barBox] = await Promise.all(['.label', '.pct', '.track'].map((s) => page.locator(`#photo-labels li:first-child ${s}`).boundingBox()));
    assert.ok(labelBox && pctBox && barBox && Math.abs(labelBox.y - pctBox.y) < 8 && labelBox.x < pctBox.x && barBox.y > labelBox.y, JSON.stringify({ labelBox, pctBox, barBox }));
    await page.screenshot({ path: join(OUT, 'library-desktop-photo.png') });
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !(document.getElementById('photo-dialog') as HTMLDialogElement).open);
    // The browser's Back with a photo open: the photo closes with its view, and the page it goes back to takes clicks.
    await page.locator('#gallery li:first-child button').click();
    await page.locator('#photo-dialog[open]').waitFor();
    await page.evaluate(() => { location.hash = ''; });
    await page.waitForFunction(() => !document.querySelector('dialog[open]') && !document.getElementById('view-recognise')?.hidden);
    await page.click('#topk', { trial: true, timeout: 5000 });
    await page.evaluate(() => { location.hash = '#library'; });
    await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 16);
    // A search's message stays with the photos: the duplicates do not show it, and it is back with the photos.
    await page.fill('#library-q', 'zzzznothing');
    await page.press('#library-q', 'Enter');
    await page.waitForFunction(() => /No photo can match/.test(document.getElementById('library-message')?.textContent ?? ''));
    await page.click('#show-dupes');
    await page.waitForFunction(() => document.querySelectorAll('.dupe-group').length >= 1);
    assert.doesNotMatch((await page.locator('#library-message').textContent()) ?? '', /No photo can match/);
    await page.click('#show-photos');
    await page.waitForFunction(() => /No photo can match/.test(document.getElementById('library-message')?.textContent ?? ''));
    // An unknown word is named, with why nothing can match it.
    assert.equal(await page.locator('#library-message').textContent(), 'No photo can match “zzzznothing”: no class, category or synonym has that word.');
    // The duplicates are the whole library's: the search, which would not filter them, goes while they are shown (the
    // tabs above it stay where they were under the pointer), and comes back with the photos, still in force.
    const tabs = await page.locator('.tabs').boundingBox();
    await page.click('#show-dupes');
    await page.waitForFunction(() => document.querySelectorAll('.dupe-group').length >= 1);
    assert.equal(await page.locator('#library-search').isHidden(), true);
    assert.deepEqual(await page.locator('.tabs').boundingBox(), tabs);
    await page.click('#show-photos');
    assert.equal(await page.locator('#library-q').inputValue(), 'zzzznothing');
    await page.waitForFunction(() => /No photo can match/.test(document.getElementById('library-message')?.textContent ?? ''));
    await page.click('#show-dupes');
    await page.waitForFunction(() => document.querySelectorAll('.dupe-group').length >= 1);
    // The group says what its number counts.
    assert.match((await page.locator('.dupe-group h3').first().textContent()) ?? '', /^Exact copies.* · 3 photos$/);
    // Copies in different folders are told apart by their folder.
    assert.deepEqual((await page.locator('.dupe-group .caption-text').allTextContents()).sort(), ['2024 夏天/IMG_0 copy.jpg', 'IMG_0 copy 2.jpg', 'IMG_0.jpg']);
    const folder = page.locator('.dupe-group .caption-text', { hasText: '2024 夏天/' });
    assert.equal(await folder.evaluate((c) => [...c.childNodes].some((n, i, all) => n.nodeName === 'WBR' && all[i + 1]?.textContent?.startsWith('/'))), true, 'a break may come after the folder');
    // Small thumbnails stay square, and the caption (where the copy is, above its size) is shown whole, broken after its folder.
    const thumb = await page.locator('.dupe-group img').first().boundingBox();
    assert.ok(thumb && Math.abs(thumb.width - thumb.height) <= 1, `thumbnail ${thumb?.width}×${thumb?.height}`);
    for (const caption of await page.locator('.dupe-group .caption').all()) {
      assert.ok(await caption.evaluate((c) => [c, ...c.children].every((e) => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight)), 'caption not cut');
      const [text, tail] = await Promise.all(['.caption-text', '.caption-tail'].map((s) => caption.locator(s).boundingBox()));
      assert.ok(text && tail && tail.y >= text.y + text.height - 1, `the name above the size: ${JSON.stringify({ text, tail })}`);
    }
    await page.click('#show-photos');
    await page.fill('#library-q', '');
    await page.press('#library-q', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#gallery li').length === 16);
    await page.click('#show-dupes');
    await page.waitForFunction(() => document.querySelectorAll('.dupe-group').length >= 1);
    // The duplicates follow a language switch like the rest of the page.
    await page.click('button[data-lang="zh"]');
    await page.waitForFunction(() => /完全相同/.test(document.querySelector('.dupe-group h3')?.textContent ?? ''));
    await page.click('button[data-lang="en"]');
    await page.waitForFunction(() => /Exact copies/.test(document.querySelector('.dupe-group h3')?.textContent ?? ''));
    await page.screenshot({ path: join(OUT, 'library-desktop-dupes.png'), fullPage: true });
    // A group of near duplicates that holds exact copies too (a photo, its copy and a smaller version) marks the copies.
    const real = await (await page.request.get(`${server.url}/v1/library/duplicates`)).json();
    const other = (await (await page.request.get(`${server.url}/v1/library/photos?limit=20`)).json()).photos.find((p: { version: string }) => p.version !== real.groups[0].photos[0].version);
    await page.route('**/v1/library/duplicates', (route) => route.fulfill({ json: { groups: [{ kind: 'near', similarity: 0.97, photos: [...real.groups[0].photos, other] }] } }));
    await page.click('#show-photos');
    await page.click('#show-dupes');
    await page.waitForFunction(() => /^Near duplicates/.test(document.querySelector('.dupe-group h3')?.textContent ?? ''));
    const tails = await page.locator('.dupe-group .caption-tail').allTextContents();
    assert.deepEqual(tails.map((tail) => tail.endsWith(' · an exact copy')), [true, true, true, false], tails.join(' | '));
    await page.unroute('**/v1/library/duplicates');
    // A caption cut short is read whole on hover, with its file.
    const title = (await page.locator('.dupe-group button.photo').last().getAttribute('title')) ?? '';
    assert.ok(title.endsWith(`\n${other.path}`) && title.length > other.path.length + 1, title);
    // Refused when the view opens again (an API key forgotten, then the browser's Back): nothing it showed stays on screen.
    await page.route('**/v1/library', (route) => route.fulfill({ status: 401, json: { error: 'An API key is required', code: 'UNAUTHORIZED' } }));
    await page.evaluate(() => { location.hash = ''; });
    await page.evaluate(() => { location.hash = '#library'; });
    await page.waitForFunction(() => document.querySelectorAll('#gallery li, .dupe-group').length === 0 && document.getElementById('library-summary')?.textContent === '');
    // Unreachable when the view opens (the server restarting): the message offers Retry, which loads it once it is back.
    await page.route('**/v1/library', (route) => route.abort('connectionrefused'));
    await page.evaluate(() => { location.hash = ''; });
    await page.evaluate(() => { location.hash = '#library'; });
    const retry = page.locator('#library-message button', { hasText: 'Retry' });
    await retry.waitFor();
    await page.unroute('**/v1/library');
    await retry.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('#gallery img[src]').length === 16);
    assert.equal(await page.locator('#library-message button').count(), 0, 'the Retry goes with the failure');
    await page.close();
  });

  test('phone, 中文, dark: two columns, no sideways scrolling, controls big enough to tap', async () => {
    const page = await browser.newPage({ viewport: { width: 360, height: 740 }, locale: 'zh-CN', colorScheme: 'dark', isMobile: true, hasTouch: true });
    await page.goto(`${server.url}/#library`);
    await page.waitForFunction(() => document.querySelectorAll('#gallery img[src]').length === 16);
    assert.equal(await page.locator('#library-title').textContent(), '照片库');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `page is ${width} px wide`);
    // The title, then the three views and the other language on one row: two rows, not three.
    const header = await page.locator('header').boundingBox();
    assert.ok(header && header.height <= 120, `the header is ${header?.height} px tall`);
    assert.equal(await page.locator('.lang button:visible').allTextContents().then((t) => t.join()), 'English', 'only the other language');
    // By keyboard: the button pressed goes with its language, and the focus moves to the one that takes its place.
    await page.focus('.lang button[data-lang="en"]');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.lang), 'zh');
    assert.equal(await page.locator('#library-category option').first().textContent(), 'All categories');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.lang), 'en');
    assert.equal(await page.locator('#library-category option').first().textContent(), '全部分类');
    const boxes = await page.locator('#gallery li').evaluateAll((items) => items.slice(0, 3).map((li) => li.getBoundingClientRect().top));
    assert.equal(boxes[0], boxes[1], 'two photos on a row');
    assert.ok(boxes[2] > boxes[0], 'the third on the next');
    for (const selector of ['#library-q', '#show-dupes', '#gallery li button']) {
      const box = await page.locator(selector).first().boundingBox();
      assert.ok(box && box.height >= 44, `${selector} is ${box?.height} px tall`);
    }
    await page.screenshot({ path: join(OUT, 'library-phone-zh.png'), fullPage: true });
    // A search of only punctuation, or of one letter, is refused in Chinese, with no English inside, each for its reason.
    for (const [query, said] of [['%', '没有可搜索的内容：请输入文字（字母或汉字），不要只输入标点符号。'], ['a', '搜索词太短：请至少输入 2 个字母（或 1 个汉字）。']]) {
      await page.fill('#library-q', query);
      await page.press('#library-q', 'Enter');
      await page.waitForFunction((expected) => document.getElementById('library-message')?.textContent === expected, said);
    }
    await page.fill('#library-q', '');
    await page.press('#library-q', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#gallery img[src]').length === 16);
    await page.locator('#gallery li:first-child button').click();
    await page.locator('#photo-dialog[open]').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#photo-like img[src]').length > 0);
    const dialogWidth = await page.evaluate(() => document.getElementById('photo-dialog')?.scrollWidth ?? 0);
    assert.ok(dialogWidth <= 360, `dialog is ${dialogWidth} px wide`);
    // The file name may break after "/", "_", "-" or a space, never inside "IMG_3.jpg"'s extension.
    const title = await page.evaluate(() => {
      const h = document.getElementById('photo-title') as HTMLElement;
      return { text: h.textContent ?? '', breaksAfter: [...h.querySelectorAll('wbr')].map((w) => w.previousSibling?.textContent?.slice(-1) ?? '') };
    });
    assert.match(title.text, /IMG_\d+( copy( \d)?)?\.jpg$/);
    assert.ok(title.breaksAfter.length >= 1 && title.breaksAfter.every((c) => '/_- '.includes(c)), JSON.stringify(title));
    await page.screenshot({ path: join(OUT, 'library-phone-zh-photo.png') });
    await page.close();
  });

  test('320 px, English: a long category name does not push the page sideways', async () => {
    const page = await browser.newPage({ viewport: { width: 320, height: 568 }, locale: 'en-US', isMobile: true, hasTouch: true });
    await page.goto(`${server.url}/#library`);
    await page.waitForFunction(() => document.querySelectorAll('#library-category option').length > 1);
    // The longest English category name the built-in mapping has, with its count.
    await page.locator('#library-category').evaluate((select) => select.append(new Option('clothing and accessories (12)', 'clothing and accessories')));
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 320, `page is ${width} px wide`);
    await page.close();
  });
});

/**
 * The web page in a real browser: Debian's Chromium driven by playwright-core.
 * Skips with a message where no Chromium is installed (.ci/run installs it).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { REPO_ROOT } from '../testing/shared.js';
import { startServer, type RunningServer } from './server.js';
import { scratchDir } from '../testing/scratch.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
const OUT = join(REPO_ROOT, 'test-output');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const ERRORS_JS = new URL('../../web/errors.js', import.meta.url).href;

/** Drops files on the drop zone the way a browser does: a DataTransfer in a drop event. */
async function dropFiles(page: Page, files: { name: string; type: string; bytes: Buffer }[], target = '#drop'): Promise<void> {
  const payload = files.map((f) => ({ name: f.name, type: f.type, base64: f.bytes.toString('base64') }));
  const transfer = await page.evaluateHandle((items) => {
    const dt = new DataTransfer();
    for (const item of items) {
      const bin = Uint8Array.from(atob(item.base64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bin], item.name, { type: item.type }));
    }
    return dt;
  }, payload);
  await page.dispatchEvent(target, 'dragover', { dataTransfer: transfer });
  await page.dispatchEvent(target, 'drop', { dataTransfer: transfer });
}

/** axe-core's WCAG 2.2 A/AA checks on the page as it is now; returns the violations, described. */
async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol: the page's CSP (script-src 'self') stays as users get it.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(readFileSync(AXE, 'utf8'));
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
    return axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
  });
  return result.violations.map((v) => `${v.id} (${v.impact}) on ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** The top answer's label of the first card is inside the viewport. */
async function answerOnScreen(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const label = document.querySelector('#results .card .pred.answer .label');
    if (!label) return false;
    const r = label.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth;
  });
}

describe('the web page in Chromium', { skip }, () => {
  let server: RunningServer;
  let locked: RunningServer;
  let browser: Browser;
  let photo: Buffer;
  let expected: { label: string; label_zh: string; score: number }[];
  let errors: { en: Record<string, string>; zh: Record<string, string> };

  before(async () => {
    const { path } = await writeRandomCheckpoint('resnet18', 44);
    server = await startServer({ port: 0, service: { model: path, cacheDir: await scratchDir('rs-page-'), workers: 1, threads: 2 } });
    locked = await startServer({ port: 0, access: { apiKey: 'the-right-key' }, service: { model: path, cacheDir: await scratchDir('rs-page-key-'), workers: 1, threads: 1 } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    photo = await testPhoto(7, 640, 480);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), 'cat.jpg');
    expected = (await (await fetch(`${server.url}/v1/classify?top_k=3`, { method: 'POST', body: form })).json()).results[0].predictions;
    errors = (await import(ERRORS_JS)).ERRORS;
    mkdirSync(OUT, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await locked?.close();
  });

  test('every error code of the server has a sentence in English and in Chinese', async () => {
    const source = readFileSync(join(REPO_ROOT, 'src/errors.ts'), 'utf8');
    const codes = [...source.matchAll(/^\s+([A-Z_]{4,}): \d{3},$/gm)].map((m) => m[1]);
    assert.ok(codes.length >= 25, `found ${codes.length} codes`);
    for (const code of codes) {
      assert.ok(errors.en[code], `English sentence for ${code}`);
      assert.ok(errors.zh[code], `Chinese sentence for ${code}`);
      assert.doesNotMatch(errors.en[code] + errors.zh[code], /HTTP \d|Bearer|Authorization/);
    }
  });

  test('desktop: drop a photo, the answer is the headline; 中文 switches labels and title; axe finds nothing, light and dark', async () => {
    for (const colorScheme of ['light', 'dark'] as const) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-US', colorScheme });
      // Nothing in the console of a page on a projector: no request answered 404, no script error.
      const consoleErrors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
      });
      page.on('pageerror', (e) => consoleErrors.push(e.message));
      await page.goto(server.url);
      await page.waitForLoadState('networkidle');
      assert.deepEqual(await axeViolations(page), [], 'empty page');
      assert.deepEqual(consoleErrors, [], 'the console of the page just opened');
      assert.equal(await page.locator('#library-link').isVisible(), false, 'no Library view without a library');
      assert.equal(await page.locator('#camera').isVisible(), false, 'no camera button on a desktop');
      assert.equal(await page.locator('#drop-title').textContent(), 'Drop photos here, paste them, or choose them');
      await dropFiles(page, [{ name: 'cat.jpg', type: 'image/jpeg', bytes: photo }]);
      await page.waitForSelector('.card[data-state="done"]');
      const card = page.locator('.card').first();
      assert.deepEqual(await card.locator('.pred .label').allTextContents(), expected.map((p) => p.label));
      assert.equal(await card.locator('.pred.answer .label').textContent(), expected[0].label);
      // The answer itself is announced, worded as the card words it ("Not sure. Maybe…" under 50%: "maybe" here too).
      const unsure = expected[0].score < 0.5;
      assert.equal(await card.locator('.pred.answer .certainty').textContent(), unsure ? 'Not sure. Maybe' : 'Probably');
      assert.match((await page.locator('#status').textContent()) ?? '', new RegExp(`cat\\.jpg: ${unsure ? 'maybe ' : ''}${expected[0].label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, `));
      assert.equal(await card.locator('img.thumb').getAttribute('alt'), 'cat.jpg');
      assert.deepEqual(await axeViolations(page), [], `results, ${colorScheme}`);
      await page.click('button[data-lang="zh"]');
      assert.deepEqual(await card.locator('.pred .label').allTextContents(), expected.map((p) => p.label_zh));
      assert.equal(await page.title(), 'resnet-serve · 照片里是什么？');
      assert.deepEqual(await axeViolations(page), [], `中文, ${colorScheme}`);
      await page.screenshot({ path: join(OUT, `page-desktop-${colorScheme}.png`), fullPage: true });
      // The label count changes the cards already there.
      await page.selectOption('#topk', '1');
      assert.equal(await card.locator('.pred').count(), 1);
      await page.close();
    }
  });

  test('phones 360×740, 320×568 and landscape: the newest answer is on screen without scrolling by hand; no sideways scrolling', async () => {
    for (const [width, height, colorScheme, lang] of [[360, 740, 'light', 'en'], [320, 568, 'dark', 'zh'], [740, 360, 'light', 'en']] as const) {
      const page = await browser.newPage({ viewport: { width, height }, locale: lang === 'zh' ? 'zh-CN' : 'en-US', isMobile: true, hasTouch: true, colorScheme });
      await page.goto(server.url);
      assert.equal(await page.locator('#camera').isVisible(), true, 'a camera button on a touch phone');
      assert.equal(await page.locator('#drop-title').textContent(), lang === 'zh' ? '选择照片，或拍一张' : 'Choose photos, or take one', 'a phone is offered what it can do, not a drop');
      // Named as phones name photos: the status line says the newest one's name, which must wrap, not widen the page.
      const names = [1, 2, 3].map((i) => `PXL_20240517_18304512${i}.MP.jpg`);
      await dropFiles(page, names.map((name) => ({ name, type: 'image/jpeg', bytes: photo })), 'body');
      await page.waitForFunction(() => document.querySelectorAll('.card[data-state="done"]').length === 3);
      await page.waitForTimeout(300);
      assert.ok(await answerOnScreen(page), `top answer visible at ${width}×${height}`);
      assert.deepEqual(await page.locator('.card .name').allTextContents(), names, 'a drop keeps its order');
      if (width < 480) {
        // The views and the language switch share one row under the title.
        const [views, controls] = await Promise.all(['.views', '.bar .controls'].map((sel) => page.locator(sel).boundingBox()));
        assert.ok(views && controls && Math.abs(views.y - controls.y) < 8, `views at y=${views?.y}, language at y=${controls?.y}`);
      }
      const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(scrollWidth <= width, `no horizontal scrolling (page is ${scrollWidth} px wide)`);
      assert.deepEqual(await axeViolations(page), [], `${width}×${height} ${colorScheme} ${lang}`);
      await page.screenshot({ path: join(OUT, `page-phone-${width}-${colorScheme}-${lang}.png`) });
      await page.close();
    }
  });

  test('on a 320×568 phone, a drop whose first file fails still brings the answer on screen', async () => {
    const page = await browser.newPage({ viewport: { width: 320, height: 568 }, isMobile: true, hasTouch: true });
    await page.goto(server.url);
    // A first drop fills the screen, so the next one's cards start below the fold.
    await dropFiles(page, [1, 2].map((i) => ({ name: `before${i}.jpg`, type: 'image/jpeg', bytes: photo })), 'body');
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="done"]').length === 2);
    await page.evaluate(() => window.scrollTo(0, 0));
    await dropFiles(page, [{ name: 'notes.jpg', type: 'image/jpeg', bytes: Buffer.from('a shopping list') }, { name: 'bee.jpg', type: 'image/jpeg', bytes: photo }], 'body');
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="done"]').length === 3 && document.querySelector('.card[data-state="error"]') !== null);
    await page.waitForTimeout(300);
    assert.ok(await answerOnScreen(page), 'the answer of bee.jpg is on screen');
    await page.close();
  });

  test('an iPhone HEIC photo the server cannot read is said as such, with what to do, in both languages', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    await page.goto(server.url);
    const heic = readFileSync(join(REPO_ROOT, 'src/image/fixtures/iphone-style.heic'));
    await page.setInputFiles('#files', [{ name: 'IMG_0042.HEIC', mimeType: 'image/heic', buffer: heic }]);
    const failed = page.locator('.card[data-state="error"]');
    await failed.waitFor();
    assert.equal(await failed.locator('.state').textContent(), errors.en.HEIC_UNSUPPORTED);
    assert.match(errors.en.HEIC_UNSUPPORTED, /JPEG/);
    assert.equal(await failed.locator('button.retry').count(), 0, 'the same file would fail again: no Retry');
    await page.click('button[data-lang="zh"]');
    assert.equal(await failed.locator('.state').textContent(), errors.zh.HEIC_UNSUPPORTED);
    // The dialogs' close buttons (not open yet) are named in the reader's language too.
    assert.deepEqual(await page.evaluate(() => ['heatmap-close', 'photo-close'].map((id) => document.getElementById(id)?.getAttribute('aria-label'))), ['关闭', '关闭']);
    await page.close();
  });

  test('the camera button opens the camera input, not the ordinary picker', async () => {
    const page = await browser.newPage({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    await page.goto(server.url);
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#camera')]);
    assert.equal(chooser.isMultiple(), false);
    assert.equal(await chooser.element().getAttribute('id'), 'camera-input');
    await chooser.setFiles({ name: 'snap.jpg', mimeType: 'image/jpeg', buffer: photo });
    await page.waitForSelector('.card[data-state="done"]');
    await page.close();
  });

  test('a file the browser knows is not a picture gets a labelled tile without asking the server for a preview', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const previews: string[] = [];
    page.on('request', (r) => r.url().includes('/v1/explain') && previews.push(r.url()));
    await page.goto(server.url);
    await page.setInputFiles('#files', [{ name: 'list.txt', mimeType: 'text/plain', buffer: Buffer.from('eggs, milk') }]);
    await page.waitForSelector('.card[data-state="error"]');
    assert.equal(await page.locator('.card[data-state="error"] .no-thumb').textContent(), 'No preview');
    assert.deepEqual(previews, []);
    await page.close();
  });

  test('a score just under the "probably" bar is never shown rounded up to it', async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    const shown = await page.evaluate(async () => {
      const { percent } = (await import(`${location.origin}/cards.js`)) as { percent(score: number, bar?: number): string };
      return [percent(0.7482, 0.75), percent(0.7482), percent(0.4996, 0.5), percent(0.5, 0.5), percent(0.0996, 0.1), percent(0.0004)];
    });
    assert.deepEqual(shown, ['74%', '75%', '49%', '50%', '9.9%', '0.0%']);
    await page.close();
  });

  test('a tiny photo\'s answer comes with a note that it was enlarged, in the reader\'s language', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(server.url);
    await page.setInputFiles('#files', [
      { name: 'tiny.png', mimeType: 'image/png', buffer: await testPhoto(8, 8, 8, 'png') },
      { name: 'big.jpg', mimeType: 'image/jpeg', buffer: photo },
    ]);
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="done"]').length === 2);
    const notes = async (): Promise<string[]> => page.locator('.card .small-photo').allTextContents();
    // One note, the tiny photo's: the 640×480 one has none.
    assert.deepEqual(await notes(), ['A small photo (8×8 pixels): the model saw it enlarged, with few details, so take this answer as a guess.']);
    await page.click('button[data-lang="zh"]');
    assert.deepEqual(await notes(), ['这张照片很小（8×8 像素）：模型看到的是放大后的图像，细节很少，这个答案只能算猜测。']);
    await page.close();
  });

  test('an animated GIF\'s thumbnail is its first frame, the one the model answers for, standing still', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(server.url);
    // Two frames of 96×64, red then blue, a tenth of a second each.
    const frames = Buffer.concat([Buffer.alloc(96 * 64 * 3, Buffer.from([220, 30, 30])), Buffer.alloc(96 * 64 * 3, Buffer.from([30, 30, 220]))]);
    const gif = await sharp(frames, { raw: { width: 96, height: 128, channels: 3, pageHeight: 64 } }).gif({ delay: [100, 100], loop: 0 }).toBuffer();
    assert.equal((await sharp(gif).metadata()).pages, 2);
    await page.setInputFiles('#files', [{ name: 'moving.gif', mimeType: 'image/gif', buffer: gif }]);
    await page.waitForSelector('.card[data-state="done"] img.thumb');
    const colours: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { data } = await sharp(await page.locator('.card img.thumb').screenshot()).resize(1, 1).raw().toBuffer({ resolveWithObject: true });
      colours.push(data[0] > data[2] ? 'red' : 'blue');
      await page.waitForTimeout(70);
    }
    assert.deepEqual(colours, Array(6).fill('red'), colours.join(' '));
    await page.close();
  });

  test('errors in the reader\'s language, following a language switch; retry, remove and clear', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    await page.goto(server.url);
    const tiff = await sharp(photo).tiff().toBuffer();
    const previews: string[] = [];
    page.on('request', (r) => r.url().includes('image=crop') && previews.push(r.url()));
    await page.setInputFiles('#files', [{ name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('this is not an image') }, { name: 'ok.tif', mimeType: 'image/tiff', buffer: tiff }]);
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="done"], .card[data-state="error"]').length === 2);
    // A TIFF the browser cannot show is classified all the same, and shown through the server's own picture of the crop.
    const tiffCard = page.locator('.card[data-state="done"]');
    await page.waitForFunction(() => (document.querySelector('.card[data-state="done"] img.thumb') as HTMLImageElement | null)?.naturalWidth === 224);
    assert.equal(await tiffCard.locator('.no-thumb').count(), 0);
    // Only the TIFF's preview was asked for: the file the server refused waited for its answer and asked for none.
    assert.equal(previews.length, 1, previews.join(' '));
    // The file that is not an image gets a labelled tile, never a broken-image icon.
    assert.equal(await page.locator('.card[data-state="error"] .no-thumb').textContent(), 'No preview');
    const failed = page.locator('.card[data-state="error"]');
    assert.equal(await failed.locator('.state').textContent(), errors.en.IMAGE_UNSUPPORTED);
    assert.equal(await failed.locator('button.retry').count(), 0, 'the same file would fail again: no Retry');
    assert.match((await page.locator('#status').textContent()) ?? '', /1 of 2 answered, 1 failed/);
    assert.deepEqual(await axeViolations(page), [], 'an error card');
    await page.click('button[data-lang="zh"]');
    assert.equal(await failed.locator('.state').textContent(), errors.zh.IMAGE_UNSUPPORTED);
    await page.click('button[data-lang="en"]');
    await failed.locator('button.remove').click();
    assert.equal(await page.locator('.card').count(), 1);
    assert.match((await page.locator('#status').textContent()) ?? '', /^1 of 1 done\./, 'the status follows a removal');
    await page.click('#clear');
    assert.equal(await page.locator('.card').count(), 0);
    assert.equal(await page.locator('#clear').isVisible(), false);
    // Too many pixels: the sentence gives the server's own limit (from /v1/models) and what to do.
    const limit = (await (await fetch(new URL('v1/models', server.url))).json()).models[0].limits.max_pixels as number;
    const huge = await sharp({ create: { width: 8000, height: Math.ceil(limit / 8000) + 8, channels: 3, background: '#777' } }).jpeg().toBuffer();
    await page.setInputFiles('#files', { name: 'huge.jpg', mimeType: 'image/jpeg', buffer: huge });
    await page.locator('.card[data-state="error"]').waitFor();
    assert.equal(await page.locator('.card[data-state="error"] .state').textContent(), errors.en.IMAGE_TOO_LARGE.replace('{mp}', String(Math.round(limit / 1e6))));
    assert.match(errors.en.IMAGE_TOO_LARGE, /\{mp\} million/);
    await page.click('#clear');
    // Retry by keyboard: while the photo is sent again the focus waits on its card, never on Remove (a second Enter
    // would delete the photo), and stays there when the answer comes.
    let attempt = 0;
    await page.route('**/v1/classify**', async (route) => {
      if (attempt++ === 0) return route.abort();
      await new Promise((resolve) => setTimeout(resolve, 400));
      return route.continue();
    });
    await page.setInputFiles('#files', { name: 'cat.jpg', mimeType: 'image/jpeg', buffer: photo });
    await page.locator('.card[data-state="error"] button.retry').focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('.card')?.getAttribute('data-state') !== 'error');
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('card')), true);
    await page.waitForSelector('.card[data-state="done"]');
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('remove')), false);
    // Two photos that failed on the way (the server out of reach): one Retry for both, which goes once they are sent again.
    await page.unroute('**/v1/classify**');
    await page.click('#clear');
    let down = true;
    await page.route('**/v1/classify**', (route) => (down ? route.abort() : route.continue()));
    await page.setInputFiles('#files', [{ name: 'a.jpg', mimeType: 'image/jpeg', buffer: photo }, { name: 'b.jpg', mimeType: 'image/jpeg', buffer: photo }]);
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="error"]').length === 2);
    assert.equal(await page.locator('#retry-all').textContent(), 'Retry the 2 that failed');
    await page.click('.lang button[data-lang="zh"]');
    assert.equal(await page.locator('#retry-all').textContent(), '重试失败的 2 张');
    // A file that is no photo failed too, for good (the server, back, says so): the button counts what it can send again.
    down = false;
    await page.setInputFiles('#files', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('a shopping list') });
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="error"]').length === 3);
    assert.equal(await page.locator('#retry-all').textContent(), '重试失败的 3 张中的 2 张');
    await page.click('.lang button[data-lang="en"]');
    assert.equal(await page.locator('#retry-all').textContent(), 'Retry 2 of the 3 that failed');
    await page.click('#retry-all');
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="done"]').length === 2);
    assert.equal(await page.locator('#retry-all').isHidden(), true);
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('card')), true, 'the focus waits on a card, not on <body>');
    await page.close();
  });

  test('a busy server (503 QUEUE_FULL): the photo is sent again by itself after Retry-After, a few times, then Retry is offered', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    await page.goto(server.url);
    let refusals = 2;
    let asked = 0;
    await page.route('**/v1/classify**', (route) => {
      asked++;
      // Retry-After 0 keeps the test short; the server itself names 1 s.
      if (refusals-- > 0) return route.fulfill({ status: 503, headers: { 'Retry-After': '0' }, json: { error: 'The server is busy', code: 'QUEUE_FULL' } });
      return route.continue();
    });
    await page.setInputFiles('#files', { name: 'cat.jpg', mimeType: 'image/jpeg', buffer: photo });
    // Read at once in the page: with Retry-After 0 the card is sent again within half a second.
    const waiting = await page.waitForFunction(() => {
      const card = document.querySelector('.card');
      return /busy: trying again/.test(card?.querySelector('.state')?.textContent ?? '') && card?.getAttribute('data-state');
    });
    assert.equal(await waiting.jsonValue(), 'waiting');
    await page.locator('.card[data-state="done"]').waitFor({ timeout: 20_000 });
    assert.equal(asked, 3, 'refused twice, answered the third time');
    // Busy every time: after its tries the card says so, with Retry.
    refusals = Infinity;
    asked = 0;
    await page.setInputFiles('#files', { name: 'dog.jpg', mimeType: 'image/jpeg', buffer: photo });
    await page.locator('.card[data-state="error"]').waitFor({ timeout: 30_000 });
    assert.equal(asked, 4, 'the first try and three more');
    assert.equal(await page.locator('.card[data-state="error"] .state').textContent(), errors.en.QUEUE_FULL);
    assert.equal(await page.locator('.card[data-state="error"] button.retry').count(), 1);
    await page.close();
  });

  test('API key: a prompt at the top, a wrong key is marked, the right one retries what failed and takes the focus on; the key can be forgotten', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    await page.goto(locked.url);
    await page.locator('#key-form:not([hidden])').waitFor();
    const prompt = await page.locator('#key-form').boundingBox();
    assert.ok(prompt && prompt.y < 300, 'the prompt is at the top');
    await page.setInputFiles('#files', { name: 'cat.jpg', mimeType: 'image/jpeg', buffer: photo });
    await page.waitForSelector('.card[data-state="error"]');
    assert.equal(await page.locator('.card .state').textContent(), errors.en.UNAUTHORIZED);
    await page.fill('#key', 'a-wrong-key');
    await page.press('#key', 'Enter');
    await page.waitForFunction(() => document.getElementById('key')?.getAttribute('aria-invalid') === 'true');
    assert.match((await page.locator('#key-error').textContent()) ?? '', /not accepted/);
    // No key was accepted, so there is none to forget; nor is the refused one kept for the next reload.
    assert.equal(await page.locator('#forget-key').isHidden(), true);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('apiKey')), null);
    assert.deepEqual(await axeViolations(page), [], 'key prompt with an error');
    await page.fill('#key', 'the-right-key');
    await page.press('#key', 'Enter');
    await page.locator('#key-form[hidden]').waitFor({ state: 'attached' });
    // The prompt hides when the key is accepted, the focus moves on once the model's description is read.
    await page.waitForFunction(() => document.activeElement?.id === 'pick', undefined, { timeout: 5000 }).catch(() => undefined);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'pick');
    await page.waitForSelector('.card[data-state="done"]');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('apiKey')), 'the-right-key');
    await page.click('#forget-key');
    await page.locator('#key-form:not([hidden])').waitFor();
    // What the key answered goes with it (a shared screen): no card, no status line naming the photo.
    assert.equal(await page.locator('.card').count(), 0);
    assert.equal(await page.locator('#status').textContent(), '');
    assert.equal(await page.locator('#clear').isHidden(), true);
    await page.close();
  });

  test('the whole window takes drops, and the highlight does not flicker over the buttons', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(server.url);
    const over = (): Promise<boolean> => page.evaluate(() => document.getElementById('drop')!.classList.contains('over'));
    await page.dispatchEvent('#drop', 'dragenter');
    await page.dispatchEvent('#pick', 'dragenter');
    await page.dispatchEvent('#drop', 'dragleave');
    assert.equal(await over(), true, 'still highlighted while over a button inside');
    await page.dispatchEvent('#pick', 'dragleave');
    assert.equal(await over(), false);
    await dropFiles(page, [{ name: 'beside.jpg', type: 'image/jpeg', bytes: photo }], 'footer');
    await page.waitForSelector('.card[data-state="done"]');
    assert.equal(new URL(page.url()).pathname, '/', 'the page stays');
    await page.close();
  });

  test('by keyboard: Tab reaches "Choose photos", Enter opens the picker; focus stays visible', async () => {
    const page = await browser.newPage();
    let choosers = 0;
    page.on('filechooser', () => choosers++);
    await page.goto(server.url);
    let focused = '';
    for (let i = 0; i < 15 && focused !== 'pick'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.id ?? '');
    }
    assert.equal(focused, 'pick');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle);
    assert.notEqual(outline, 'none');
    await page.keyboard.press('Enter');
    for (let i = 0; i < 50 && choosers === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(choosers, 1);
    await page.close();
  });

  test('on a phone, the heatmap a tap asks for is on screen, not drawn above it', async () => {
    const page = await browser.newPage({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    await page.goto(server.url);
    await dropFiles(page, [1, 2, 3].map((i) => ({ name: `cat${i}.jpg`, type: 'image/jpeg', bytes: photo })));
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="done"]').length === 3);
    const toggle = page.locator('.card button.where').last();
    await toggle.scrollIntoViewIfNeeded();
    await toggle.tap();
    await page.locator('.card .legend').waitFor();
    const box = await page.locator('.card[data-explain="on"] img.thumb').boundingBox();
    // Within a pixel: the browser scrolls in device pixels, so the edge may land a fraction of a CSS pixel off.
    assert.ok(box && box.y > -1 && box.y + box.height < 741, `heatmap at y ${box?.y}…${box && box.y + box.height} of a 740-px screen`);
    await page.close();
  });

  test('"Show where it looked": the heatmap over the crop, a legend, and another label\'s map on a tap', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(server.url);
    await dropFiles(page, [{ name: 'cat.jpg', type: 'image/jpeg', bytes: photo }]);
    await page.waitForSelector('.card[data-state="done"]');
    const card = page.locator('.card').first();
    // By keyboard: the focus stays on the toggle when the card redraws.
    await card.locator('button.where').focus();
    await page.keyboard.press('Enter');
    await card.locator('.legend').waitFor();
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.focus), 'where');
    const src = await card.locator('img.thumb').getAttribute('src');
    assert.match(src ?? '', /^blob:/);
    assert.equal(await card.locator('img.thumb').getAttribute('alt'), `Where it looked for “${expected[0].label}”`);
    // Which answer the map shows is written on screen too (a projector shows no alt text).
    assert.equal(await card.locator('.where-for').textContent(), `Where it looked for “${expected[0].label}”`);
    await card.locator('.pred .pick').nth(1).click();
    await page.waitForFunction(() => document.querySelectorAll('.card .pred .pick')[1]?.getAttribute('aria-pressed') === 'true');
    await card.locator('.legend').waitFor();
    await page.waitForFunction((label) => document.querySelector('.card .where-for')?.textContent === `Where it looked for “${label}”`, expected[1].label);
    assert.deepEqual(await axeViolations(page), [], 'heatmap shown');
    await page.screenshot({ path: join(OUT, 'page-heatmap.png') });
    // The key says on screen what the colours measure, and how to see another answer's map.
    assert.match((await card.locator('.legend').textContent()) ?? '', /^Evidence for that class:less/);
    assert.match((await card.locator('.where-hint').textContent()) ?? '', /^The brightest part is where the evidence is strongest in this photo, however sure the answer\. Choose another answer/);
    // One label asked for: the map of the second answer gives way to the top answer's, and no other answer is offered.
    await page.selectOption('#topk', '1');
    await page.waitForFunction((label) => document.querySelector('.card .where-for')?.textContent === `Where it looked for “${label}”`, expected[0].label);
    assert.equal(await card.locator('.where-hint').count(), 0);
    await page.selectOption('#topk', '3');
    await card.locator('.where-hint').waitFor();
    // Enlarge, by keyboard: the map over the whole photo in a dialog, titled with its class; Esc gives the focus back.
    const explained: string[] = [];
    page.on('request', (r) => r.url().includes('/v1/explain') && explained.push(r.url()));
    await card.locator('button.enlarge').focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => ((document.getElementById('heatmap-large') as HTMLImageElement | null)?.naturalWidth ?? 0) > 0);
    assert.equal(await page.locator('#heatmap-title').textContent(), `Where it looked for “${expected[0].label}”`);
    assert.deepEqual(await page.evaluate(() => { const img = document.getElementById('heatmap-large') as HTMLImageElement; return [img.naturalWidth, img.naturalHeight]; }), [640, 480], 'the whole photo, not the crop');
    assert.match(explained.at(-1) ?? '', /image=photo&class=\d+/);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'heatmap-close');
    assert.deepEqual(await axeViolations(page), [], 'heatmap enlarged');
    await page.screenshot({ path: join(OUT, 'page-heatmap-large.png') });
    // As large as the screen allows, for a projector: the 640×480 photo drawn larger than its own size, the legend
    // on screen; and on a phone held sideways too.
    const fit = () =>
      page.evaluate(() => {
        const img = document.getElementById('heatmap-large') as HTMLImageElement;
        const legend = document.getElementById('heatmap-legend')?.getBoundingClientRect();
        return { scale: Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight), legendBottom: legend?.bottom ?? Infinity, height: innerHeight };
      });
    const desk = await fit();
    assert.ok(desk.scale > 1.2, `drawn at ${desk.scale.toFixed(2)}× its size on 1280×800`);
    assert.ok(desk.legendBottom <= desk.height, `the legend ends at ${desk.legendBottom} px of ${desk.height}`);
    await page.setViewportSize({ width: 740, height: 360 });
    const sideways = await fit();
    assert.ok(sideways.legendBottom <= sideways.height, `sideways, the legend ends at ${sideways.legendBottom} px of ${sideways.height}`);
    assert.ok(sideways.scale > 0.35, `sideways, drawn at ${sideways.scale.toFixed(2)}× its size`);
    await page.screenshot({ path: join(OUT, 'page-heatmap-large-sideways.png') });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => (document.getElementById('heatmap-dialog') as HTMLDialogElement).open), false);
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.focus), 'enlarge');
    // A click on the map does the same; closed, the focus goes to Enlarge (nothing had it before the click), not to the page.
    await card.locator('img.thumb').click();
    await page.locator('#heatmap-dialog[open]').waitFor();
    await page.locator('#heatmap-close').click();
    // The dialog's close event, which moves the focus, comes a task after the click.
    await page.waitForFunction(() => (document.activeElement as HTMLElement | null)?.dataset.focus === 'enlarge', undefined, { timeout: 5000 }).catch(() => undefined);
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.focus), 'enlarge');
    await card.locator('button.where').click();
    assert.equal(await card.locator('.legend').count(), 0);
    // A map that cannot be made (the server gone, here refused) is said as an error, and the toggle stays "Show" to try again.
    await page.route('**/v1/explain**', (route) => route.fulfill({ status: 503, json: { error: 'The server is shutting down', code: 'NOT_READY' } }));
    await card.locator('button.where').click();
    await card.locator('.explain-error[role=alert]').waitFor();
    assert.match((await card.locator('.explain-error').textContent()) ?? '', /starting or stopping/);
    assert.equal(await card.locator('button.where').textContent(), 'Show where it looked');
    await page.close();
  });
});

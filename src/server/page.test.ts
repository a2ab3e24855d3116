/**
 * The web page in a real browser: Debian's Chromium driven by playwright-core.
 * Skips with a message where no Chromium is installed (.ci/run installs it).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { REPO_ROOT } from '../testing/shared.js';
import { startServer, type RunningServer } from './server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
const OUT = join(REPO_ROOT, 'test-output');

/** Drops files on the drop zone the way a browser does: a DataTransfer in a drop event. */
async function dropFiles(page: Page, files: { name: string; type: string; bytes: Buffer }[]): Promise<void> {
  const payload = files.map((f) => ({ name: f.name, type: f.type, base64: f.bytes.toString('base64') }));
  const transfer = await page.evaluateHandle((items) => {
    const dt = new DataTransfer();
    for (const item of items) {
      const bin = Uint8Array.from(atob(item.base64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bin], item.name, { type: item.type }));
    }
    return dt;
  }, payload);
  await page.dispatchEvent('#drop', 'dragover', { dataTransfer: transfer });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
}

describe('the web page in Chromium', { skip }, () => {
  let server: RunningServer;
  let browser: Browser;
  let photo: Buffer;
  let expected: { label: string; label_zh: string }[];

  before(async () => {
    const { path } = await writeRandomCheckpoint('resnet18', 44);
    server = await startServer({ port: 0, service: { model: path, cacheDir: await mkdtemp(join(tmpdir(), 'rs-page-')), workers: 1, threads: 2 } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    photo = await testPhoto(7, 640, 480);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), 'cat.jpg');
    expected = (await (await fetch(`${server.url}/v1/classify?top_k=3`, { method: 'POST', body: form })).json()).results[0].predictions;
    mkdirSync(OUT, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('drop an image: its card shows the model\'s top 3; 中文 switches the labels; desktop screenshot', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    await page.goto(server.url);
    await dropFiles(page, [{ name: 'cat.jpg', type: 'image/jpeg', bytes: photo }]);
    const card = page.locator('.card').first();
    await card.locator('[data-state="done"], .pred').first().waitFor();
    await page.waitForSelector('.card[data-state="done"]');
    assert.deepEqual(await card.locator('.pred .label').allTextContents(), expected.map((p) => p.label));
    assert.match((await card.locator('.timing').textContent()) ?? '', /Server time \d+ ms/);
    assert.ok(await card.locator('img').getAttribute('src'));
    await page.click('button[data-lang="zh"]');
    assert.deepEqual(await card.locator('.pred .label').allTextContents(), expected.map((p) => p.label_zh));
    assert.equal(await page.locator('h1 span').textContent(), '照片里是什么？');
    await page.screenshot({ path: join(OUT, 'page-desktop.png'), fullPage: true });
    await page.close();
  });

  test('three images give three cards; a text file gets a clear error; phone-size screenshot', async () => {
    const page = await browser.newPage({ viewport: { width: 360, height: 740 }, locale: 'en-US', isMobile: true, hasTouch: true });
    await page.goto(server.url);
    await dropFiles(page, [1, 2, 3].map((i) => ({ name: `p${i}.jpg`, type: 'image/jpeg', bytes: photo })));
    await page.waitForFunction(() => document.querySelectorAll('.card[data-state="done"]').length === 3);
    for (const labels of await Promise.all((await page.locator('.card').all()).map((c) => c.locator('.pred .label').allTextContents()))) {
      assert.deepEqual(labels, expected.map((p) => p.label));
    }
    await page.setInputFiles('#files', { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('this is not an image') });
    await page.waitForSelector('.card[data-state="error"]');
    const message = await page.locator('.card[data-state="error"] .state').textContent();
    assert.match(message ?? '', /Not an image/);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 360, `no horizontal scrolling on a 360 px phone (page is ${width} px wide)`);
    await page.screenshot({ path: join(OUT, 'page-phone.png'), fullPage: true });
    await page.close();
  });

  test('usable by keyboard: the drop zone is focusable and Enter opens the file picker', async () => {
    const page = await browser.newPage();
    // Listening before the page loads turns on file-chooser interception in time.
    let choosers = 0;
    page.on('filechooser', () => choosers++);
    await page.goto(server.url);
    await page.keyboard.press('Tab');
    let focused = await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
    for (let i = 0; i < 6 && focused !== 'drop'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
    }
    assert.equal(focused, 'drop');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => true);
    for (let i = 0; i < 50 && choosers === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(choosers, 1);
    await page.close();
  });
});

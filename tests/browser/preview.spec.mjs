// preview.spec.mjs: the editors' desk in a real browser (the system's
// Chromium through playwright-core; no browser is ever downloaded).
//
// Run by tests/e2e/test_browser.py, which builds a site, starts
// `tagdigest serve` on a free loopback port and passes:
//   TD_URL        http://127.0.0.1:PORT
//   TD_SITE       the site folder (its templates/ are edited here)
//   TD_PREVIEW    a preview path, e.g. /preview?to=zoe@example.net
//   TD_EXPECT     a post title the preview must show
//   TD_UNSUB      an /unsubscribe/TOKEN path of that reader
//   TD_ARTIFACTS  where screenshots go (tests/artifacts/, ignored by git)
// Exit status 0 when every check passed; each step is logged.

import { runSteps } from './chromium.mjs';
import fs from 'node:fs';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run this through tests/e2e/test_browser.py)`);
  return v;
};
const base = env('TD_URL');
const site = env('TD_SITE');
const previewPath = env('TD_PREVIEW');
const expectTitle = env('TD_EXPECT');
const unsubPath = env('TD_UNSUB');
const artifacts = env('TD_ARTIFACTS');
fs.mkdirSync(artifacts, { recursive: true });
fs.rmSync(path.join(artifacts, 'failure.png'), { force: true });

const log = (...a) => console.log('browser:', ...a);
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, name), fullPage: true });

await runSteps(path.join(artifacts, 'failure.png'), async (page) => {
  // 1. the preview shows the digest's posts, in the text part and the frame
  await page.goto(base + previewPath);
  await page.locator('#text').filter({ hasText: expectTitle }).waitFor();
  const frame = page.frameLocator('iframe[sandbox]');
  await frame.locator('body').filter({ hasText: expectTitle }).waitFor();
  const sandbox = await page.locator('iframe').getAttribute('sandbox');
  if (sandbox === null || sandbox.includes('allow-scripts')) throw new Error(`iframe sandbox is "${sandbox}"`);
  log('preview shows', JSON.stringify(expectTitle));
  await shot(page, 'preview.png');

  // 2. live reload: a template edit appears without a manual refresh, and
  //    the page is updated in place (the typed address survives)
  await page.fill('#address', 'typed@example.org');
  await page.evaluate(() => { window.__tdNoReload = true; });
  const marker = `LIVEMARKER${Date.now()}`;
  const txt = path.join(site, 'templates', 'digest.txt.mustache');
  const html = path.join(site, 'templates', 'digest.html.mustache');
  const t0 = Date.now();
  fs.appendFileSync(txt, `\n${marker}-text\n`);
  fs.appendFileSync(html, `\n<p>${marker}-html</p>\n`);
  await page.locator('#text').filter({ hasText: `${marker}-text` }).waitFor({ timeout: 5000 });
  await page.frameLocator('iframe[sandbox]').locator('body')
    .filter({ hasText: `${marker}-html` }).waitFor({ timeout: 5000 });
  log(`live update seen after ${Date.now() - t0} ms`);
  if (!(await page.evaluate(() => window.__tdNoReload === true))) throw new Error('the page reloaded instead of updating');
  const typed = await page.inputValue('#address');
  if (typed !== 'typed@example.org') throw new Error(`the address field lost its input: "${typed}"`);
  await shot(page, 'preview-live.png');

  // 3. unsubscribe: a confirmation page with one button; clicking it
  //    unsubscribes and confirms on the spot (no redirect)
  const resp = await page.goto(base + unsubPath);
  if (resp.status() !== 200) throw new Error(`unsubscribe page answered ${resp.status()}`);
  const buttons = await page.locator('button').count();
  if (buttons !== 1) throw new Error(`expected one button, found ${buttons}`);
  await shot(page, 'unsubscribe-confirm.png');
  await page.click('#unsubscribe');
  await page.locator('#done').waitFor();
  const done = await page.locator('#done').innerText();
  if (!new URL(page.url()).pathname.startsWith('/unsubscribe/')) throw new Error(`redirected to ${page.url()}`);
  log('confirmation:', JSON.stringify(done));
  await shot(page, 'unsubscribed.png');
});

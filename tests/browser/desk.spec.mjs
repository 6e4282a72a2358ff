// desk.spec.mjs: the editors' desk on a phone, its "This week" page, and
// the preview's phone-width and dark-mode views, in a real browser (the
// system's Chromium through playwright-core; no browser is downloaded).
//
// Run by tests/e2e/test_browser.py, which builds a site with a long tag
// name and a long address, starts `tagdigest serve` on a free loopback
// port and passes:
//   TD_URL        http://127.0.0.1:PORT
//   TD_PREVIEW    the query of one reader's preview, e.g. to=zoe@example.net
//   TD_DUE        readers due now, from `send --dry-run --json`
//   TD_SEND       digests `send --dry-run --json` would send
//   TD_SKIP       ... and would skip (nothing new)
//   TD_SUBSCRIBERS  the site's subscriber file (a row is added here)
//   TD_ARTIFACTS  where screenshots go (tests/artifacts/, ignored by git)
// Checks:
//   - at 375 px the home page and the week page do not scroll sideways
//     (scrollWidth <= clientWidth), and say who is due as the dry run does
//   - "This week" is one click from the home page and shows the dry run's
//     numbers; a reader added to the subscriber file appears on it by the
//     live reload, in place
//   - on the preview, "Phone (375 px)" makes the frame's viewport 375 px
//     wide, and "Dark" paints the digest's body dark; that dark page is
//     what Chromium shows when it emulates prefers-color-scheme: dark for
//     the part as sent (and "Light" what it shows for light)
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
const query = env('TD_PREVIEW');
const due = Number(env('TD_DUE'));
const nsend = Number(env('TD_SEND'));
const nskip = Number(env('TD_SKIP'));
const subscribers = env('TD_SUBSCRIBERS');
const artifacts = env('TD_ARTIFACTS');
fs.mkdirSync(artifacts, { recursive: true });
fs.rmSync(path.join(artifacts, 'desk-failure.png'), { force: true });

const log = (...a) => console.log('browser:', ...a);
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, name), fullPage: true });

// Relative luminance of a computed "rgb(...)" colour (WCAG).
const luminance = (css) => {
  const m = /^rgba?\(([^)]*)\)$/.exec(css.trim());
  if (!m) throw new Error(`unexpected colour ${css}`);
  const [r, g, b] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
  const ch = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
};

async function noSidewaysScroll(page, what) {
  const w = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  if (w.scroll > w.client) throw new Error(`${what} at 375 px scrolls sideways: scrollWidth ${w.scroll} > clientWidth ${w.client}`);
  log(`${what}: scrollWidth ${w.scroll} <= clientWidth ${w.client}`);
}

// The digest body's background in the preview's frame.
async function frameBackground(page) {
  const frame = await (await page.locator('iframe[sandbox]').elementHandle()).contentFrame();
  await frame.waitForLoadState();
  return frame.locator('body').evaluate((b) => getComputedStyle(b).backgroundColor);
}

// The part on its own, as Chromium shows it with the media emulated.
async function emulated(context, url, scheme) {
  const p = await context.newPage();
  try {
    await p.emulateMedia({ colorScheme: scheme });
    await p.goto(url);
    return await p.locator('body').evaluate((b) => getComputedStyle(b).backgroundColor);
  } finally {
    await p.close();
  }
}

await runSteps(path.join(artifacts, 'desk-failure.png'), async (page, context) => {
  // 1. the home page on a phone
  await page.setViewportSize({ width: 375, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(base + '/');
  const shown = Number(await page.locator('#due').getAttribute('data-due'));
  if (shown !== due) throw new Error(`home says ${shown} due now, the dry run ${due}`);
  log('home: due now', shown);
  await noSidewaysScroll(page, 'home');
  await shot(page, 'desk-home-375.png');

  // 2. "This week", one click away, still on the phone
  await page.click('header a[href="/week"]');
  await page.locator('#counts').waitFor();
  const n = async (id) => Number(await page.locator(`#${id}`).getAttribute('data-n'));
  if (await n('n-send') !== nsend || await n('n-skip') !== nskip) {
    throw new Error(`week: ${await n('n-send')} to send, ${await n('n-skip')} skipped; the dry run: ${nsend}, ${nskip}`);
  }
  log(`week: ${nsend} to send, ${nskip} with nothing new`);
  await noSidewaysScroll(page, 'week');
  await shot(page, 'desk-week-375.png');
  const readers = await n('n-readers');
  await page.evaluate(() => { window.__tdNoReload = true; });
  const t0 = Date.now();
  fs.appendFileSync(subscribers, 'late.reader@example.org,Late Reader,usa\n');
  // the desk works the week out again at most every 5 s
  await page.locator(`#n-readers[data-n="${readers + 1}"]`).waitFor({ timeout: 20000 });
  if (!(await page.evaluate(() => window.__tdNoReload === true))) throw new Error('the week page reloaded instead of updating');
  log(`week: the new reader seen after ${Date.now() - t0} ms`);

  // 3. the preview on a desktop: phone width, then dark, one click each
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.goto(`${base}/preview?${query}`);
  const wide = await page.locator('iframe[sandbox]').evaluate((f) => f.clientWidth);
  if (wide <= 375) throw new Error(`the frame starts ${wide} px wide`);
  await page.click('#view-phone');
  await page.locator('iframe.phone').waitFor();
  const narrow = await page.locator('iframe[sandbox]').evaluate((f) => f.clientWidth);
  const frame = await (await page.locator('iframe[sandbox]').elementHandle()).contentFrame();
  await frame.waitForLoadState();
  const inner = await frame.locator('body').evaluate(() => window.innerWidth);
  if (narrow !== 375 || inner !== 375) throw new Error(`phone frame: ${narrow} px, its viewport ${inner} px`);
  log(`phone: frame ${wide} -> ${narrow} px, viewport ${inner} px`);
  const light = await frameBackground(page);
  await page.click('#scheme-dark');
  await page.locator('#scheme-dark.on').waitFor();
  if (!(await page.locator('iframe[sandbox]').getAttribute('src')).includes('scheme=dark')) throw new Error('the frame did not change');
  const dark = await frameBackground(page);
  log(`digest body: ${light} -> ${dark}`);
  if (!(luminance(dark) < 0.05)) throw new Error(`dark view: body background ${dark} is not dark`);
  if (!(luminance(light) > 0.5)) throw new Error(`default view: body background ${light} is not light`);
  if (!(await page.locator('iframe.phone').count())) throw new Error('"Dark" lost the phone width');
  await shot(page, 'desk-preview-phone-dark.png');

  // 4. the forced scheme is what Chromium's emulation shows for the part
  const part = `${base}/preview/html?${query}`;
  const emDark = await emulated(context, part, 'dark');
  const emLight = await emulated(context, part, 'light');
  const forcedLightInDark = await emulated(context, `${part}&scheme=light`, 'dark');
  if (emDark !== dark) throw new Error(`emulated dark ${emDark}, the desk's dark ${dark}`);
  if (emLight !== light || forcedLightInDark !== emLight) {
    throw new Error(`emulated light ${emLight}, default ${light}, forced light in a dark browser ${forcedLightInDark}`);
  }
  log(`emulated media agrees: dark ${emDark}, light ${emLight}`);
});

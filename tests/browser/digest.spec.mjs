// digest.spec.mjs: a delivered digest's HTML part in a real browser (the
// system's Chromium through playwright-core), in both colour schemes, at a
// phone's and a desktop's width.
//
// Run by tests/e2e/test_browser.py, which delivers a digest into a Maildir,
// takes the HTML part out with Python's email package and passes:
//   TD_HTML          the file holding that HTML
//   TD_POST_HREF     how the posts' own links begin (title, "Read more")
//   TD_EXCERPT_HREF  how the links inside the excerpts begin
//   TD_ARTIFACTS     where screenshots go (tests/artifacts/, ignored by git)
//
// For prefers-color-scheme light and dark, at 375 and 800 px, and once
// with the <style> block removed (a client that ignores it: the inline
// colours alone, digest-nostyle-800.png):
//   - a full-page screenshot, digest-<scheme>-<width>.png
//   - every visible text node: the WCAG contrast ratio of its colour
//     against the background painted under it is at least 4.5 (3 for
//     large text: 24 px, or 18.66 px bold)
//   - dark: every painted background is dark (no light frame or card),
//     and no border is near white
//   - the preheader (the body's first element) stays hidden
//   - links inside excerpts have the colour of the posts' own links (not
//     without <style>)
//   - nothing is wider than the window
// Exit status 0 when every check passed; each problem is printed.

import { launch } from './chromium.mjs';
import fs from 'node:fs';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run this through tests/e2e/test_browser.py)`);
  return v;
};
const html = fs.readFileSync(env('TD_HTML'), 'utf8');
const postHref = env('TD_POST_HREF');
const excerptHref = env('TD_EXCERPT_HREF');
const artifacts = env('TD_ARTIFACTS');
fs.mkdirSync(artifacts, { recursive: true });

const log = (...a) => console.log('browser:', ...a);

// Runs in the page: what the checks need, measured by the browser itself.
function measure({ scheme, postHref, excerptHref }) {
  const rgba = (css) => {
    const m = /^rgba?\(([^)]*)\)$/.exec(css.trim());
    if (!m) throw new Error(`unexpected colour ${css}`);
    const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const lum = (c) => {
    const ch = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
  };
  const hex = (c) => '#' + [c.r, c.g, c.b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
  // The canvas under everything when no element paints: the browser's
  // default for the scheme (the page declares color-scheme light dark).
  const canvas = scheme === 'dark' ? { r: 18, g: 18, b: 18, a: 1 } : { r: 255, g: 255, b: 255, a: 1 };
  // The background under an element: every ancestor's, painted outermost first.
  const backgroundOf = (el) => {
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.push(e);
    let bg = canvas;
    for (const e of chain.reverse()) bg = over(rgba(getComputedStyle(e).backgroundColor), bg);
    return bg;
  };
  // Shown: has a box, visible, inside every clipping ancestor.
  const shown = (rect, el) => {
    if (rect.width <= 0 || rect.height <= 0) return false;
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.visibility !== 'visible' || Number(s.opacity) === 0) return false;
      if (s.overflow !== 'visible' && e !== document.documentElement && e !== document.body) {
        const c = e.getBoundingClientRect();
        if (rect.right <= c.left || rect.left >= c.right || rect.bottom <= c.top || rect.top >= c.bottom) return false;
      }
    }
    return true;
  };

  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    const el = n.parentElement;
    const range = document.createRange();
    range.selectNodeContents(n);
    if (![...range.getClientRects()].some((r) => shown(r, el))) continue;
    const s = getComputedStyle(el);
    const fg = rgba(s.color);
    const bg = backgroundOf(el);
    const L1 = lum(over(fg, bg)), L2 = lum(bg);
    const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
    const px = parseFloat(s.fontSize);
    const large = px >= 24 || (px >= 18.66 && Number(s.fontWeight) >= 700);
    texts.push({ text: n.textContent.trim().slice(0, 40), color: hex(over(fg, bg)), bg: hex(bg),
                 ratio: Math.round(ratio * 100) / 100, need: large ? 3 : 4.5 });
  }

  // what paints: backgrounds, and the borders that show
  const surfaces = [], borders = [];
  for (const el of [document.documentElement, document.body, ...document.body.querySelectorAll('*')]) {
    const s = getComputedStyle(el);
    const what = { tag: el.tagName.toLowerCase(), cls: el.className };
    const c = rgba(s.backgroundColor);
    if (c.a > 0) surfaces.push({ ...what, color: hex(c), lum: lum(c) });
    for (const side of ['Top', 'Right', 'Bottom', 'Left']) {
      const b = rgba(s[`border${side}Color`]);
      if (parseFloat(s[`border${side}Width`]) > 0 && s[`border${side}Style`] !== 'none' && b.a > 0) {
        borders.push({ ...what, color: hex(b), lum: lum(b) });
      }
    }
  }

  const pre = document.body.firstElementChild;
  const preheaderShown = [...pre.getClientRects()].some((r) => shown(r, pre));

  const colourOf = (sel) => [...document.querySelectorAll(sel)].map((a) => getComputedStyle(a).color);
  return {
    texts,
    surfaces,
    borders,
    preheader: pre.textContent.trim().slice(0, 40),
    preheaderShown,
    postLinks: colourOf(`a[href^="${postHref}"]`),
    excerptLinks: colourOf(`a[href^="${excerptHref}"]`),
    scrollWidth: document.documentElement.scrollWidth,
    width: window.innerWidth,
  };
}

const { context, close } = await launch();
const problems = [];
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(10000);
  // a digest is read offline here: nothing it links to is fetched
  await page.route(/^https?:/, (route) => route.abort());
  const runs = [];
  for (const scheme of ['light', 'dark']) for (const width of [375, 800]) runs.push({ scheme, width });
  // a client that drops the <style> block: the inline colours alone
  runs.push({ scheme: 'light', width: 800, bare: true });
  for (const { scheme, width, bare } of runs) {
    const where = `${bare ? 'without <style>' : scheme} ${width}px`;
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width, height: 800 });
    await page.setContent(html, { waitUntil: 'load' });
    if (bare) await page.evaluate(() => document.querySelectorAll('style').forEach((e) => e.remove()));
    const name = `digest-${bare ? 'nostyle' : scheme}-${width}.png`;
    await page.screenshot({ path: path.join(artifacts, name), fullPage: true });
    const m = await page.evaluate(measure, { scheme, postHref, excerptHref });

    if (m.texts.length < 10) problems.push(`${where}: only ${m.texts.length} visible text nodes`);
    const low = m.texts.filter((t) => t.ratio < t.need);
    for (const t of low) {
      problems.push(`${where}: contrast ${t.ratio} < ${t.need}: ${t.color} on ${t.bg}: ${JSON.stringify(t.text)}`);
    }
    const min = Math.min(...m.texts.map((t) => t.ratio));
    if (scheme === 'dark') {
      for (const s of m.surfaces.filter((s) => s.lum > 0.05)) {
        problems.push(`${where}: a light surface in dark mode: <${s.tag} class="${s.cls}"> ${s.color}`);
      }
      for (const b of m.borders.filter((b) => b.lum > 0.6)) {
        problems.push(`${where}: a light border in dark mode: <${b.tag} class="${b.cls}"> ${b.color}`);
      }
    }
    if (m.preheaderShown) problems.push(`${where}: the preheader shows: ${JSON.stringify(m.preheader)}`);
    if (!m.postLinks.length || !m.excerptLinks.length) {
      problems.push(`${where}: no post links (${m.postLinks.length}) or excerpt links (${m.excerptLinks.length})`);
    }
    const palette = new Set(m.postLinks);
    if (palette.size > 1) problems.push(`${where}: the posts' links differ in colour: ${[...palette]}`);
    // Without <style> the excerpt's links keep the client's own colour:
    // the sanitized excerpt carries no style of its own (docs/TEMPLATES.md).
    for (const c of bare ? [] : m.excerptLinks) {
      if (!palette.has(c)) problems.push(`${where}: an excerpt link is ${c}, the posts' links ${[...palette]}`);
    }
    if (m.scrollWidth > m.width) problems.push(`${where}: ${m.scrollWidth}px wide in a ${m.width}px window`);
    log(`${where}: ${m.texts.length} text nodes, lowest contrast ${min.toFixed(2)},` +
        ` link colour ${[...palette]}, ${low.length} below the minimum; ${name}`);
  }
} catch (e) {
  problems.push(`FAILED: ${e.stack}`);
} finally {
  await close();
}
for (const p of problems) console.error('browser:', p);
process.exit(problems.length ? 1 : 0);

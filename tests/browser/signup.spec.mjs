// signup.spec.mjs: the reader's path on `tagdigest serve --public` in a
// real browser (the system's Chromium through playwright-core; no browser
// is ever downloaded): the sign-up form, the confirmation page, the
// preference centre, unsubscribing from it.
//
// Run one step at a time by tests/e2e/test_browser_signup.py, which starts
// the servers, reads the mail at its SMTP server and checks the store
// between steps:
//   node signup.spec.mjs STEP
// with
//   TD_URL        http://127.0.0.1:PORT (serve --public)
//   TD_ARTIFACTS  where screenshots go (tests/artifacts/, ignored by git)
// and per step:
//   subscribe     TD_EMAIL, TD_NAME, TD_TAGS (slugs, comma-separated),
//                 TD_FREQUENCY: fills /subscribe with the keyboard, submits
//   confirm-open  TD_LINK: opens the confirmation link, presses nothing
//   confirm       TD_LINK: opens it and presses #confirm; prints
//                 "preferences: URL" from the confirmed page
//   preferences   TD_LINK, TD_TAGS, TD_FREQUENCY, TD_TIME (HH:MM),
//                 TD_TIMEZONE: changes and saves them, then opens the page
//                 again and checks they stuck
//   unsubscribe   TD_LINK: #unsubscribe-all in the preference centre
// Exit status 0 when every check passed; each step is logged.

import { launch, watch } from './chromium.mjs';
import fs from 'node:fs';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set (run this through tests/e2e/test_browser_signup.py)`);
  return v;
};
const step = process.argv[2];
const base = env('TD_URL');
const artifacts = env('TD_ARTIFACTS');
fs.mkdirSync(artifacts, { recursive: true });
fs.rmSync(path.join(artifacts, `signup-failure-${step}.png`), { force: true });

const log = (...a) => console.log(`browser ${step}:`, ...a);
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, name), fullPage: true });
const slugs = (name) => env(name).split(',').filter((s) => s);

const { context, close } = await launch();
const page = context.pages()[0] ?? await context.newPage();
// full-page shots: as tall as the page, at least this
await page.setViewportSize({ width: 800, height: 480 });
page.setDefaultTimeout(10000);
const problems = watch(page);

// Accessibility basics: every control a person sees has a label (a
// <label for>, a wrapping <label>, aria-label or aria-labelledby), and
// the honeypot, if there, is out of sight and out of the tab order.
async function checkLabels(formSelector) {
  const unlabelled = await page.$$eval(`${formSelector} input, ${formSelector} select, ${formSelector} textarea`, (els) =>
    els.filter((el) => {
      if (el.type === 'hidden' || el.name === 'website') return false;
      const labelled = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') ||
        el.getAttribute('aria-labelledby');
      return !labelled;
    }).map((el) => el.outerHTML.slice(0, 120)));
  if (unlabelled.length) throw new Error(`controls without a label:\n${unlabelled.join('\n')}`);
}

// Tab from where the focus is until `done` says stop; bounded.
async function tabUntil(done, what, limit = 60) {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(done)) return i + 1;
  }
  throw new Error(`${limit} Tab presses never reached ${what}`);
}
const focusedIs = (selector) => `(() => { const a = document.activeElement; return !!a && a.matches(${JSON.stringify(selector)}); })()`;

async function setTags(want) {
  const boxes = page.locator('input[name=tags]');
  const n = await boxes.count();
  if (n === 0) throw new Error('no tag checkboxes');
  for (const slug of want) {
    if (await page.locator(`input[name=tags][value="${slug}"]`).count() !== 1) throw new Error(`no checkbox for tag ${slug}`);
  }
  for (let i = 0; i < n; i++) {
    const box = boxes.nth(i);
    const slug = await box.getAttribute('value');
    // with the keyboard: focus it and press Space where it must change
    if ((await box.isChecked()) !== want.includes(slug)) {
      await box.focus();
      await page.keyboard.press('Space');
    }
  }
  for (let i = 0; i < n; i++) {
    const box = boxes.nth(i);
    const slug = await box.getAttribute('value');
    if ((await box.isChecked()) !== want.includes(slug)) throw new Error(`tag ${slug} did not take the keyboard`);
  }
}

async function setFrequency(freq) {
  const radio = page.locator(`input[name=frequency][value="${freq}"]`);
  if (await radio.count() !== 1) throw new Error(`no frequency radio for ${freq}`);
  await radio.focus();
  await page.keyboard.press('Space');
  if (!(await radio.isChecked())) throw new Error(`frequency ${freq} did not take the keyboard`);
}

let failed = false;
try {
  if (step === 'subscribe') {
    const resp = await page.goto(base + '/subscribe');
    if (resp.status() !== 200) throw new Error(`/subscribe answered ${resp.status()}`);
    await page.locator('#subscribe-form').waitFor();
    await checkLabels('#subscribe-form');
    const honeypot = page.locator('#subscribe-form [name=website]');
    // out of sight: not displayed, or off the page, or 1 px; and hidden
    // from screen readers (aria-hidden on it or an ancestor)
    if (await honeypot.count()) {
      const seen = await honeypot.evaluate((el) => {
        const r = el.getBoundingClientRect();
        const st = getComputedStyle(el);
        const shown = st.display !== 'none' && st.visibility !== 'hidden' &&
          r.right > 0 && r.bottom > 0 && r.width * r.height > 1;
        return { shown, ariaHidden: !!el.closest('[aria-hidden=true]') };
      });
      if (seen.shown) throw new Error('the honeypot field is in sight');
      if (!seen.ariaHidden) throw new Error('the honeypot field is not aria-hidden');
    }
    // from the top of the page, the keyboard reaches the address first
    await page.locator('body').focus();
    const tabs = await tabUntil(focusedIs('#email'), '#email');
    log(`#email reached with ${tabs} Tab presses`);
    await page.keyboard.type(env('TD_EMAIL'));
    await tabUntil(focusedIs('#name'), '#name');
    await page.keyboard.type(env('TD_NAME'));
    await setTags(slugs('TD_TAGS'));
    await setFrequency(env('TD_FREQUENCY'));
    // the tab order goes on to the button, skipping the honeypot
    await tabUntil(`(() => { const a = document.activeElement;
      if (a && a.name === 'website') throw new Error('the honeypot is in the tab order');
      return !!a && a.id === 'subscribe'; })()`, '#subscribe');
    if (await honeypot.count() && (await honeypot.inputValue()) !== '') throw new Error('the honeypot is not empty');
    await shot(page, 'signup-form.png');
    const [answer] = await Promise.all([
      page.waitForNavigation(),
      page.keyboard.press('Enter'),
    ]);
    if (answer.status() !== 200) throw new Error(`POST /subscribe answered ${answer.status()}`);
    const text = await page.locator('body').innerText();
    log('answer:', JSON.stringify(text.slice(0, 200)));
    await shot(page, 'signup-sent.png');
  } else if (step === 'confirm-open' || step === 'confirm') {
    const resp = await page.goto(env('TD_LINK'));
    if (resp.status() !== 200) throw new Error(`the confirmation link answered ${resp.status()}`);
    const button = page.locator('#confirm');
    await button.waitFor();
    if (step === 'confirm-open') {
      await shot(page, 'signup-confirm.png');
      log('confirm page shown; nothing pressed');
    } else {
      const [answer] = await Promise.all([page.waitForNavigation(), button.click()]);
      if (answer.status() !== 200) throw new Error(`POST /confirm answered ${answer.status()}`);
      if (answer.request().method() !== 'POST') throw new Error(`#confirm sent a ${answer.request().method()}`);
      const text = await page.locator('body').innerText();
      log('confirmed page:', JSON.stringify(text.slice(0, 300)));
      await shot(page, 'signup-confirmed.png');
      const href = await page.locator('a[href*="/preferences/"]').first().getAttribute('href');
      if (!href) throw new Error('the confirmed page has no link to the preference centre');
      console.log(`preferences: ${new URL(href, page.url()).href}`);
    }
  } else if (step === 'preferences') {
    const resp = await page.goto(env('TD_LINK'));
    if (resp.status() !== 200) throw new Error(`the preference centre answered ${resp.status()}`);
    await page.locator('#save').waitFor();
    const form = (await page.locator('form:has(#save)').count()) ? 'form:has(#save)' : 'body';
    await checkLabels(form);
    for (const id of ['#day', '#time', '#timezone', '#pause_weeks']) {
      if (await page.locator(id).count() !== 1) throw new Error(`no ${id} in the preference centre`);
    }
    const want = slugs('TD_TAGS');
    await setTags(want);
    await setFrequency(env('TD_FREQUENCY'));
    await page.fill('#time', env('TD_TIME'));
    await page.selectOption('#timezone', env('TD_TIMEZONE'));
    await shot(page, 'preferences.png');
    const [answer] = await Promise.all([page.waitForNavigation(), page.click('#save')]);
    if (answer.status() !== 200) throw new Error(`saving answered ${answer.status()}`);
    await shot(page, 'preferences-saved.png');
    // what was saved is what the page shows when opened again
    await page.goto(env('TD_LINK'));
    const checked = await page.$$eval('input[name=tags]:checked', (els) => els.map((e) => e.value));
    if (JSON.stringify([...checked].sort()) !== JSON.stringify([...want].sort())) {
      throw new Error(`after saving, tags shown are ${checked}, not ${want}`);
    }
    const freq = await page.$eval('input[name=frequency]:checked', (e) => e.value);
    if (freq !== env('TD_FREQUENCY')) throw new Error(`after saving, frequency shown is ${freq}`);
    const time = await page.inputValue('#time');
    const zone = await page.inputValue('#timezone');
    if (time !== env('TD_TIME') || zone !== env('TD_TIMEZONE')) throw new Error(`after saving, ${time} ${zone} shown`);
    log('saved and shown again:', checked.join(','), freq, time, zone);
  } else if (step === 'unsubscribe') {
    await page.goto(env('TD_LINK'));
    const [answer] = await Promise.all([page.waitForNavigation(), page.click('#unsubscribe-all')]);
    if (answer.status() !== 200) throw new Error(`unsubscribing answered ${answer.status()}`);
    log('answer:', JSON.stringify((await page.locator('body').innerText()).slice(0, 200)));
    await shot(page, 'preferences-unsubscribed.png');
  } else {
    throw new Error(`unknown step ${step}`);
  }
  if (problems.length) throw new Error(problems.join('\n'));
} catch (e) {
  failed = true;
  console.error(`browser ${step}: FAILED:`, e.message);
  await shot(page, `signup-failure-${step}.png`).catch(() => {});
} finally {
  await close();
}
process.exit(failed ? 1 : 0);

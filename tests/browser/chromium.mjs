// chromium.mjs: the system's Chromium (Debian's /usr/bin/chromium) in a
// fresh profile, headless, for the browser tests; playwright-core never
// downloads a browser. close() closes it and removes the profile.
// watch(page) collects what went wrong on a page while a test drives it.
// runSteps(failureShot, steps) is a spec's frame: a fresh page, the steps,
// the problems watch() saw, a screenshot when something failed, and the
// exit status.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export async function launch() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'td-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    timeout: 30000,
  });
  const close = async () => {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}

// What went wrong on the page, as messages: script errors, console errors
// and every answer of 400 or more but the favicon's. A failed load is
// reported by URL from its response; the console only says "404".
export function watch(page) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') problems.push(`${r.status()} for ${r.url()}`);
  });
  return problems;
}

// Runs steps(page, context) on a fresh page in a fresh browser. Any
// failure, or a problem watch() saw, is printed and screenshotted to
// failureShot; exits the process 0 when all went well, else 1.
export async function runSteps(failureShot, steps) {
  const { context, close } = await launch();
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(10000);
  const problems = watch(page);
  let failed = false;
  try {
    await steps(page, context);
    if (problems.length) throw new Error(problems.join('\n'));
  } catch (e) {
    failed = true;
    console.error('browser: FAILED:', e.message);
    await page.screenshot({ path: failureShot, fullPage: true }).catch(() => {});
  } finally {
    await close();
  }
  process.exit(failed ? 1 : 0);
}

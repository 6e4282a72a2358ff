"""The editors' desk in a real browser: runs tests/browser/preview.spec.mjs
(playwright-core driving /usr/bin/chromium) against `tagdigest serve`.

Skipped, loudly, when node, /usr/bin/chromium or playwright-core (npm ci
in tests/browser/, never downloading a browser) is not available.
Screenshots go to tests/artifacts/.
"""
import os
import re
import shutil
import subprocess
import sys
import warnings

import pytest

from conftest import ROOT, run, write_site
from test_serve import ENV, Server, token

BROWSER_DIR = ROOT / "tests" / "browser"
SPEC = BROWSER_DIR / "preview.spec.mjs"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"


def skip_loudly(why):
    msg = f"BROWSER TEST SKIPPED: {why}"
    print(msg, file=sys.stderr)
    warnings.warn(msg)
    pytest.skip(msg)


def playwright_ready():
    """node_modules/playwright-core, installed from the lock file when
    missing (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the system Chromium is used)."""
    if (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").exists():
        return None
    npm = shutil.which("npm")
    if not npm:
        return "npm is not installed, and tests/browser/node_modules is missing"
    try:
        p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                           capture_output=True, timeout=300,
                           env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))
    except subprocess.TimeoutExpired:
        return "npm ci in tests/browser timed out"
    if p.returncode != 0:
        return f"npm ci in tests/browser failed: {p.stderr.decode()[-500:]}"
    return None


def test_preview_in_chromium(tmp_path):
    node = shutil.which("node")
    if not node:
        skip_loudly("node is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        skip_loudly(f"{CHROMIUM} is not installed")
    why = playwright_ready()
    if why:
        skip_loudly(why)

    conf = write_site(tmp_path, "maildir")
    run(conf, "ingest", check=True, env=ENV)
    s = Server(conf)
    try:
        env = dict(os.environ,
                   TD_URL=f"http://127.0.0.1:{s.port}",
                   TD_SITE=str(tmp_path),
                   TD_PREVIEW="/preview?to=zoe@example.net",
                   TD_EXPECT="Consulate closure in San Francisco",
                   TD_UNSUB=f"/unsubscribe/{token('zoe@example.net')}",
                   TD_ARTIFACTS=str(ARTIFACTS))
        p = subprocess.run([node, str(SPEC)], cwd=BROWSER_DIR, capture_output=True,
                           timeout=180, env=env)
        out = p.stdout.decode() + p.stderr.decode()
        print(out)
        assert p.returncode == 0, out
        assert "live update seen after" in out
        # the click went through the form
        status = run(conf, "status", check=True, env=ENV).stdout.decode()
        assert re.search(r"zoe@example\.net\s+all\s+unsubscribed .*: form", status), status
    finally:
        assert s.stop() == 0, s.output()
    for name in ("preview.png", "preview-live.png", "unsubscribe-confirm.png",
                 "unsubscribed.png"):
        assert (ARTIFACTS / name).stat().st_size > 1000

"""In a real browser (playwright-core driving /usr/bin/chromium): the
editors' desk (tests/browser/preview.spec.mjs against `tagdigest serve`;
desk.spec.mjs: the desk on a phone, "This week", the preview's phone and
dark views), and a delivered digest's HTML part in light and dark mode
(tests/browser/digest.spec.mjs).

Skipped, loudly, when node, /usr/bin/chromium or playwright-core (npm ci
in tests/browser/, never downloading a browser) is not available.
Screenshots go to tests/artifacts/.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import pytest

from conftest import ROOT, parse, run, write_site
from test_serve import ENV, Server, token

BROWSER_DIR = ROOT / "tests" / "browser"
SPEC = "preview.spec.mjs"
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


def node_or_skip():
    """node, once the browser and playwright-core are there; else a loud skip."""
    node = shutil.which("node")
    if not node:
        skip_loudly("node is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        skip_loudly(f"{CHROMIUM} is not installed")
    why = playwright_ready()
    if why:
        skip_loudly(why)
    return node


def run_spec(node, spec, env):
    """node SPEC in tests/browser with env; its output, after checking it passed."""
    p = subprocess.run([node, str(BROWSER_DIR / spec)], cwd=BROWSER_DIR, capture_output=True,
                       timeout=180, env=dict(os.environ, TD_ARTIFACTS=str(ARTIFACTS), **env))
    out = p.stdout.decode() + p.stderr.decode()
    print(out)
    assert p.returncode == 0, out
    return out


def test_preview_in_chromium(tmp_path):
    node = node_or_skip()
    conf = write_site(tmp_path, "maildir")
    run(conf, "ingest", check=True, env=ENV)
    s = Server(conf)
    try:
        out = run_spec(node, SPEC, dict(
            TD_URL=f"http://127.0.0.1:{s.port}",
            TD_SITE=str(tmp_path),
            TD_PREVIEW="/preview?to=zoe@example.net",
            TD_EXPECT="Consulate closure in San Francisco",
            TD_UNSUB=f"/unsubscribe/{token('zoe@example.net')}"))
        assert "live update seen after" in out
        # the click went through the form
        status = run(conf, "status", check=True, env=ENV).stdout.decode()
        assert re.search(r"zoe@example\.net\s+all\s+unsubscribed .*: form", status), status
    finally:
        assert s.stop() == 0, s.output()
    for name in ("preview.png", "preview-live.png", "unsubscribe-confirm.png",
                 "unsubscribed.png"):
        assert (ARTIFACTS / name).stat().st_size > 1000


# A tag name and an address with no break in them: they must wrap on a phone.
LONG_TAG = "Internationalorganisationsberichterstattungszusammenfassungen"
LONG_ADDR = ("averyveryverylongaddresswithoutanybreakswhatsoever"
             "@newsroom-of-the-example-organisation.example.org")


def test_desk_in_chromium(tmp_path):
    node = node_or_skip()
    conf = write_site(tmp_path, "maildir",
                      extra_rows=f'{LONG_ADDR},"Long Address",{LONG_TAG.lower()};usa\n')
    (tmp_path / "posts" / "long.md").write_text(
        "---\ntitle: A post under a long tag\ndate: 2026-11-25T10:00:00Z\n"
        f"tags: [{LONG_TAG}]\nurl: https://news.test/p/long/\n---\nBody.\n", encoding="utf-8")
    run(conf, "ingest", check=True, env=ENV)
    j = json.loads(run(conf, "send", "--dry-run", "--json", check=True, env=ENV).stdout)
    sent = j.get("would_send", j.get("sent"))
    # independently: on a fresh site every reader is due; the fixture's
    # weather reader alone has nothing new
    assert sent + j["skipped"] == 6 and j["skipped"] == 1
    s = Server(conf)
    try:
        out = run_spec(node, "desk.spec.mjs", dict(
            TD_URL=f"http://127.0.0.1:{s.port}",
            TD_PREVIEW="to=zoe@example.net",
            TD_DUE=str(sent + j["skipped"]),
            TD_SEND=str(sent),
            TD_SKIP=str(j["skipped"]),
            TD_SUBSCRIBERS=str(tmp_path / "subscribers.csv")))
        assert "emulated media agrees" in out
    finally:
        assert s.stop() == 0, s.output()
    for name in ("desk-home-375.png", "desk-week-375.png", "desk-preview-phone-dark.png"):
        assert (ARTIFACTS / name).stat().st_size > 1000


def test_digest_in_both_color_schemes(tmp_path):
    """The HTML part as delivered, in prefers-color-scheme light and dark at
    375 and 800 px: readable contrast for every visible text, no light
    surface in dark mode, excerpt links in the template's link colour."""
    node = node_or_skip()
    conf = write_site(tmp_path, "maildir")
    run(conf, "run", check=True)
    msgs = [parse(f.read_bytes()) for f in (tmp_path / "outbox" / "new").iterdir()]
    msg = [m for m in msgs if m["To"].addresses[0].addr_spec == "zoe@example.net"][0]
    html = msg.get_body(("html",)).get_content()
    assert "https://news.test/ref/" in html      # the excerpts carry links
    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    run_spec(node, "digest.spec.mjs", dict(
        TD_HTML=str(page),
        TD_POST_HREF="https://news.test/p/",
        TD_EXCERPT_HREF="https://news.test/ref/"))
    for name in ("light-375", "light-800", "dark-375", "dark-800", "nostyle-800"):
        assert (ARTIFACTS / f"digest-{name}.png").stat().st_size > 1000

"""The reader's path in a real browser (tests/browser/signup.spec.mjs,
playwright-core driving /usr/bin/chromium) against `tagdigest serve
--public`: sign up on the form with the keyboard, confirm from the mail,
change tags, frequency, time and zone in the preference centre, get a
digest that follows them, and unsubscribe from the preference centre
while a send runs.

The servers are real and started here: Postfix's smtp-sink catches the
confirmation mail (conftest.Sink, read from its dumps and parsed with
Python's email package, policy.default, defects checked); a second
smtp-sink that waits 2 s before each DATA answer keeps a `send` busy.
What the store holds is read with `tagdigest subscribers export`. The
screenshots (signup-*.png, preferences*.png) go to tests/artifacts/; the
README's "reader's path" shows copies of them kept in docs/img/.

Skipped, loudly, like test_browser.py, when node, Chromium or
playwright-core is missing.
"""
import datetime
import os
import pathlib
import re
import subprocess
import time
import zoneinfo

from conftest import BIN, POSTS, Sink, expected_urls, run, write_site
from test_browser import ARTIFACTS, BROWSER_DIR, node_or_skip
from test_public import members, purpose_token
from test_serve import ENV, Server, wait_for

SPEC = BROWSER_DIR / "signup.spec.mjs"
BASE = "https://news.test"          # [public] url: the links in mail
READER = "zoe.reader@example.org"
LATE = "late@example.org"           # a CSV reader, walked after the others
ZONE = "Asia/Tokyo"
FIRST_TAGS = ["usa", "nato"]
NEW_TAGS = ["north-korea", "iran"]


def browser(node, step, server, **env):
    """One step of signup.spec.mjs; its output, after asserting it passed."""
    full = dict(os.environ, TD_URL=f"http://127.0.0.1:{server.port}",
                TD_ARTIFACTS=str(ARTIFACTS), **env)
    p = subprocess.run([node, str(SPEC), step], cwd=BROWSER_DIR, capture_output=True,
                       timeout=120, env=full)
    out = p.stdout.decode() + p.stderr.decode()
    print(out)
    assert p.returncode == 0, out
    return out


def local_path(url):
    """The path of a link in mail or on a page: the browser opens it on the
    test server, which stands for [public] url."""
    m = re.fullmatch(re.escape(BASE) + r"(/[A-Za-z0-9_./-]+)", url)
    assert m, url
    return m.group(1)


def digest_posts(msg):
    """Post URLs in the digest's text part."""
    text = msg.get_body(("plain",)).get_content()
    return {url for _, _, _, url in POSTS if url in text}


def test_reader_path_in_chromium(tmp_path):
    node = node_or_skip()
    sink = Sink()
    slow = Sink("-w", "2")       # DATA answered after 2 s: a send lasts
    s = None
    send = None
    try:
        conf = write_site(tmp_path, "smtp", sink.url,
                          extra_rows=f'{LATE},"Late Reader",usa\n')
        conf.write_text(conf.read_text(encoding="utf-8") +
                        f"[public]\nurl = {BASE}\n", encoding="utf-8")
        run(conf, "ingest", check=True, env=ENV)
        # the editors' readers first: in the send's walk (id order) the
        # reader who signs up below comes after them
        run(conf, "subscribers", "import", str(tmp_path / "subscribers.csv"),
            check=True, env=ENV)
        s = Server(conf, "--public")

        # 1. the form, with the keyboard
        browser(node, "subscribe", s, TD_EMAIL=READER, TD_NAME="Zoë Reader",
                TD_TAGS=",".join(FIRST_TAGS), TD_FREQUENCY="weekly")
        assert members(conf)[READER]["status"] == "pending"

        # 2. the confirmation mail, parsed (conftest.parse checks defects)
        mails = wait_for(lambda: [m for r, m, _ in sink.messages() if READER in r], timeout=20)
        assert len(mails) == 1, mails
        msg = mails[0]
        assert msg["To"].addresses[0].addr_spec == READER
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        links = set(re.findall(re.escape(BASE) + r"/confirm/[A-Za-z0-9_.-]+", text))
        assert len(links) == 1, text
        assert links == set(re.findall(re.escape(BASE) + r"/confirm/[A-Za-z0-9_.-]+", html))
        confirm = f"http://127.0.0.1:{s.port}" + local_path(links.pop())

        # 3. opening the link confirms nothing; the button does
        browser(node, "confirm-open", s, TD_LINK=confirm)
        assert members(conf)[READER]["status"] == "pending"
        out = browser(node, "confirm", s, TD_LINK=confirm)
        m = members(conf)[READER]
        assert m["status"] == "active"
        assert sorted(m["tags"]) == sorted(FIRST_TAGS) and m["frequency"] == "weekly"
        href = re.search(r"^preferences: (\S+)$", out, re.M).group(1)
        prefs_path = "/preferences/" + href.split("/preferences/", 1)[1]
        prefs = f"http://127.0.0.1:{s.port}{prefs_path}"

        # 4. the preference centre: other tags, daily, at the next whole
        #    minute in Tokyo at least 20 s away (the browser needs a few
        #    seconds). A weekly reader is not due before next Monday: only
        #    the daily Tokyo slot makes the send below deliver to them.
        tokyo = zoneinfo.ZoneInfo(ZONE)
        soon = datetime.datetime.now(tokyo) + datetime.timedelta(seconds=20)
        slot = soon.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        browser(node, "preferences", s, TD_LINK=prefs, TD_TAGS=",".join(NEW_TAGS),
                TD_FREQUENCY="daily", TD_TIME=slot.strftime("%H:%M"), TD_TIMEZONE=ZONE)
        m = members(conf)[READER]
        assert sorted(m["tags"]) == sorted(NEW_TAGS)
        assert (m["frequency"], m["time"], m["timezone"]) == \
            ("daily", slot.strftime("%H:%M"), ZONE), m

        # 5. a send, busy on the slow sink: while it runs, LATE leaves from
        #    the preference centre; the reader's digest follows the new choices
        wait = slot.timestamp() + 1 - time.time()
        assert wait < 90, wait
        if wait > 0:
            time.sleep(wait)
        send = subprocess.Popen([BIN, "-c", str(conf), "-o", f"transport.url={slow.url}",
                                 "-o", "transport.connections=1", "send"],
                                env=dict(os.environ, **ENV),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        dumps = pathlib.Path(slow.dumps)
        assert wait_for(lambda: any(dumps.iterdir()) or send.poll() is not None, timeout=30)
        assert send.poll() is None, "the send ended before the browser could click"
        late_prefs = purpose_link(s, LATE)
        browser(node, "unsubscribe", s, TD_LINK=late_prefs)
        assert members(conf)[LATE]["status"] == "unsubscribed"
        assert send.poll() is None, "the send ended before the click was checked"
        out, _ = send.communicate(timeout=120)
        assert send.returncode == 0, out.decode()
    finally:
        if send and send.poll() is None:
            send.kill()
            send.wait()
        if s:
            assert s.stop() == 0, s.output()
        got = {}
        try:
            for rcpts, msg, _ in slow.messages():
                for r in rcpts:
                    got.setdefault(r, []).append(msg)
        finally:
            sink.stop()
            slow.stop()
    assert LATE not in got, "a reader who left mid-send got a digest"
    assert {"juergen@example.org", "zoe@example.net"} <= set(got), got
    assert len(got[READER]) == 1, got.keys()
    digest = got[READER][0]
    assert digest_posts(digest) == expected_urls(NEW_TAGS), digest.get_body(("plain",)).get_content()
    # the digest links the reader's preference centre, the same page
    text = digest.get_body(("plain",)).get_content()
    assert re.search(re.escape(BASE) + r"/preferences/\S+", text), text
    for name in ("signup-form", "signup-sent", "signup-confirm", "signup-confirmed",
                 "preferences", "preferences-saved", "preferences-unsubscribed"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 1000, name



def purpose_link(s, addr):
    """A reader's preference centre as the link in their digests has it,
    with the token made here from the known secret (test_public's
    purpose_token, independent of tagdigest's token code): LATE has no
    digest yet to take it from."""
    return f"http://127.0.0.1:{s.port}/preferences/" + purpose_token("preferences", addr)

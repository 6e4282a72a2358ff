"""End to end: every digest links its reader's preference centre.

A run delivers into a Maildir; each message is parsed with the standard
library (policy.default, no defects) and both parts are read for the
"Change your tags or schedule" link. Its token is checked here with
Python's hmac and base64 from a known secret, following token.h's format
for purpose tokens, independently of tagdigest's token code.
"""
import base64
import hashlib
import hmac
import os
import re

from conftest import SUBSCRIBERS, expected_urls, parse, run, write_site

SECRET = "prefs-test-secret-0123456789abcdef"
ENV = {"TAGDIGEST_TOKEN_SECRET": SECRET}
PUBLIC = "https://readers.news.test/r"


def b64decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_token(tok, purpose):
    """(email, detail, expires) of an authentic token of `purpose`; fails
    the test on a forgery."""
    payload_b64, mac_b64 = tok.split(".")
    payload = b64decode(payload_b64)
    want = hmac.new(SECRET.encode(), purpose.encode() + b"\n" + payload,
                    hashlib.sha256).digest()
    assert hmac.compare_digest(want, b64decode(mac_b64)), tok
    email, detail, expires = payload.decode().split("\n")
    return email, detail, int(expires)


def prefs_links(msg):
    """The preference centre's URLs in the text and the HTML part."""
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    # the text part wraps a long URL onto a line of its own
    in_text = re.findall(r"^Change your tags or schedule:\s+(\S+)", text, re.M)
    in_html = re.findall(r'<a href="([^"]+)"[^>]*>Change your tags or schedule</a>', html)
    return in_text, in_html


def test_each_digest_links_its_readers_preferences(tmp_path):
    conf = write_site(tmp_path, "maildir")
    with open(conf, "a", encoding="utf-8") as f:
        f.write(f"[public]\nurl = {PUBLIC}/\n")
    run(conf, "run", check=True, env=ENV)
    out = tmp_path / "outbox" / "new"
    due = {s[0] for s in SUBSCRIBERS if expected_urls(s[2])}
    seen = set()
    for name in os.listdir(out):
        msg = parse((out / name).read_bytes())
        to = msg["To"].addresses[0].addr_spec
        in_text, in_html = prefs_links(msg)
        assert len(in_text) == 1 and in_text == in_html, (to, in_text, in_html)
        url = in_text[0]
        assert url.startswith(PUBLIC + "/preferences/"), url
        email, detail, expires = check_token(url[len(PUBLIC + "/preferences/"):],
                                             "preferences")
        # the reader's own, for nothing more specific, never expiring: a
        # digest read weeks later still opens the page
        assert (email, detail, expires) == (to, "", 0)
        # the unsubscribe links moved with [public] url too
        assert f"<{PUBLIC}/unsubscribe/" in msg["List-Unsubscribe"]
        seen.add(to)
    assert seen == due


def test_preview_carries_the_link_at_the_sites_url_by_default(tmp_path):
    """Without [public], the preference centre is at [site] url."""
    conf = write_site(tmp_path, "maildir")
    run(conf, "ingest", check=True, env=ENV)
    raw = run(conf, "preview", "--to", "zoe@example.net", check=True, env=ENV).stdout
    in_text, in_html = prefs_links(parse(raw))
    assert len(in_text) == 1 and in_text == in_html
    prefix = "https://news.test/preferences/"
    assert in_text[0].startswith(prefix)
    assert check_token(in_text[0][len(prefix):], "preferences") == ("zoe@example.net", "", 0)

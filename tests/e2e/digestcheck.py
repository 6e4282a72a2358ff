"""Checks one delivered digest against the fixture, with the standard
library's mail parser as the independent reader."""
import re
from email.utils import parsedate_to_datetime

from conftest import SITE_NAME, expected_urls

POST_URL = re.compile(r"https://news\.test/p/[a-z]+/")


def check_digest(msg, sub, preview_text=None, preview_html=None, line_end=b"\r\n"):
    """line_end: how the store the message came from writes line ends;
    smtp-sink's dump files turn the wire's CRLF into LF."""
    addr, name, tags = sub
    want = expected_urls(tags)

    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for p in parts:
        assert p.get_content_charset() == "utf-8"
        assert p["Content-Transfer-Encoding"] == "quoted-printable"

    # headers, decoded by the parser
    assert msg["To"].addresses[0].addr_spec == addr
    assert msg["To"].addresses[0].display_name == name
    assert msg["From"].addresses[0].display_name == SITE_NAME
    assert msg["From"].addresses[0].addr_spec == "digest@news.test"
    noun = "post" if len(want) == 1 else "posts"
    assert msg["Subject"].startswith(f"{SITE_NAME}: {len(want)} new {noun} in "), msg["Subject"]
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["List-Id"] == f"{SITE_NAME} <digest.news.test>"
    unsub = msg["List-Unsubscribe"]
    assert re.fullmatch(r"<https://news\.test/unsubscribe/[A-Za-z0-9_.-]+>", unsub), unsub
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<[^@<>\s]+@news\.test>", msg["Message-ID"]), msg["Message-ID"]
    assert parsedate_to_datetime(msg["Date"]).utcoffset().total_seconds() == 0

    text = parts[0].get_content()
    html = parts[1].get_content()
    # the posts this subscriber must see, and no others
    assert set(POST_URL.findall(text)) == want, (addr, sorted(POST_URL.findall(text)), sorted(want))
    assert set(POST_URL.findall(html)) == want
    # feed text is escaped in HTML, never live markup
    assert "<script>alert(1)</script>" not in html
    if "https://news.test/p/b/" in want:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert unsub.strip("<>") in text and unsub.strip("<>") in html

    # the parts decode to exactly the bytes tagdigest rendered
    if preview_text is not None:
        assert parts[0].get_payload(decode=True) == preview_text.replace(b"\n", line_end)
    if preview_html is not None:
        assert parts[1].get_payload(decode=True) == preview_html.replace(b"\n", line_end)
    return text, html

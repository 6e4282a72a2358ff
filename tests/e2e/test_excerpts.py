"""Excerpts end to end (issue 9, items 3, 4 and 10): cut when the digest is
rendered, to the excerpt_chars of that run, for every post; titles only at
0; a first paragraph of any length never empties a digest; control
characters in a Markdown post reach neither part.

Every message is read back with Python's email package (policy.default,
no defects), never grepped raw."""
import http.server
import re
import shutil
import sqlite3
import threading

import pytest

from conftest import ROOT, parse, run

SITE = "Excerpt Weekly"
SUBSCRIBER = "zoe@example.net"

# ~600 characters of words, so the default excerpt_chars (280) cuts it
LONG_PARA = " ".join(f"word{i:03d}" for i in range(75)) + " final."


def write_site(root, posts, feed_url=None, extra=""):
    """A site with the given Markdown posts: [(file, title, tags, url, body)]."""
    (root / "posts").mkdir(parents=True)
    for fname, title, tags, url, body in posts:
        (root / "posts" / fname).write_text(
            "---\n"
            f"title: {title}\n"
            "date: 2026-11-20T10:00:00Z\n"
            f"tags: [{', '.join(tags)}]\n"
            f"url: {url}\n"
            "---\n" + body, encoding="utf-8")
    (root / "subscribers.csv").write_text(f"email,name,tags\n{SUBSCRIBER},Zoë,nato;usa\n",
                                          encoding="utf-8")
    shutil.copytree(ROOT / "templates", root / "templates")
    conf = root / "tagdigest.conf"
    conf.write_text(
        "[site]\n"
        f"name = {SITE}\n"
        "url = https://news.test\n"
        "from = digest@news.test\n"
        "[store]\npath = var/store.db\n"
        "[schedule]\nday = monday\ntime = 08:00\ntimezone = Europe/Berlin\n"
        "[digest]\nmax_posts = 10\n" + extra +
        "[subscribers]\npath = subscribers.csv\n"
        "[templates]\ndir = templates\n"
        f"[transport]\ntype = maildir\npath = {root / 'outbox'}\n"
        "[source.posts]\ntype = posts\npath = posts\n"
        + (f"[source.feed]\ntype = feed\nurl = {feed_url}\ntags = USA\n" if feed_url else ""),
        encoding="utf-8")
    return conf


def preview(conf, *opts):
    """The message the subscriber would get now, parsed."""
    p = run(conf, *opts, "preview", "--to", SUBSCRIBER, "--format", "eml", check=True)
    return parse(p.stdout)


def parts(msg):
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = msg.get_body(("html",)).get_content().replace("\r\n", "\n")
    return text, html


def text_excerpt(text, start):
    """The excerpt in the text part that begins with start, its wrapped
    lines joined again."""
    m = re.search(rf"^    ({re.escape(start)}.*?)\n\n", text, re.M | re.S)
    assert m, text
    return " ".join(m.group(1).split())


def delivered(root):
    files = sorted((root / "outbox" / "new").iterdir())
    assert len(files) == 1, files
    return parse(files[0].read_bytes())


def html_wire_size(msg):
    """The HTML part as it travels: its quoted-printable text."""
    part = msg.get_body(("html",))
    assert part["Content-Transfer-Encoding"] == "quoted-printable"
    return len(part.get_payload(decode=False).encode("ascii"))


def test_long_first_paragraph_keeps_every_post(tmp_path):
    """Item 3: two NATO posts, one opening with a 118 KB paragraph full of
    markup. Both are shown, the HTML part stays under Gmail's clip limit,
    the subject counts what the digest shows, and the long excerpt is cut
    with its markup closed."""
    unit = "A **bold** claim and a [link](https://news.test/ref/), again "
    huge = unit * (118 * 1024 // len(unit))
    conf = write_site(tmp_path, [
        ("long.md", "The long one", ["NATO"], "https://news.test/p/long/",
         huge + "\n\nSecond paragraph.\n"),
        ("short.md", "The short one", ["NATO"], "https://news.test/p/short/",
         "Short and sweet.\n"),
    ])
    run(conf, "run", check=True)
    msg = delivered(tmp_path)
    assert msg["Subject"] == f"{SITE}: 2 new posts in NATO"
    text, html = parts(msg)
    for title, url in (("The long one", "https://news.test/p/long/"),
                       ("The short one", "https://news.test/p/short/")):
        assert title in text and title in html
        assert url in text and f'href="{url}"' in html
    # nothing left for "and N more": the subject's 2 are the 2 shown
    assert "more in NATO" not in text and "more in NATO" not in html
    assert html_wire_size(msg) < 100_000
    # the long excerpt: cut near 280 characters, markup kept and closed
    m = re.search(r"<p>(A <strong>bold</strong> claim.*?)</p>", html, re.S)
    assert m, html[:2000]
    excerpt = m.group(1)
    assert "…" in excerpt and "Second paragraph" not in html
    plain = re.sub(r"<[^>]+>", "", excerpt)
    assert 200 < len(plain) <= 281, plain
    assert excerpt.count("<strong>") == excerpt.count("</strong>") > 3
    assert excerpt.count("<a ") == excerpt.count("</a>") > 3
    # the text part: cut the same way, wrapped
    shown = text_excerpt(text, "A *bold* claim")
    assert shown.endswith("…") and 200 < len(shown) <= 281, shown
    # delivered: the next run has nothing new for this reader
    p = run(conf, "run", check=True)
    assert "nothing new to send" in p.stdout.decode()


class FeedServer:
    """One RSS feed with an ETag on 127.0.0.1; records each request's
    If-None-Match."""

    def __init__(self, body):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.headers.get("If-None-Match"))
                if self.headers.get("If-None-Match") == '"v1"':
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=UTF-8")
                self.send_header("ETag", '"v1"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tag/usa/feed/"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def rss(summary):
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            "<title>USA</title><link>https://blog.test/</link>"
            "<item><title>Feed post</title><link>https://blog.test/2026/feed-post/</link>"
            "<pubDate>Fri, 20 Nov 2026 10:00:00 +0000</pubDate>"
            "<guid>https://blog.test/?p=1</guid>"
            f"<description><![CDATA[<p>{summary}</p>]]></description></item>"
            "</channel></rss>").encode()


def test_titles_only_and_changed_length(tmp_path):
    """Item 4: excerpt_chars = 0 gives titles only in both parts, and a
    changed excerpt_chars reaches posts stored before it changed, from
    Markdown and from a feed, on the very next run."""
    feed = FeedServer(rss("Feed " + LONG_PARA))
    try:
        conf = write_site(tmp_path, [
            ("a.md", "Markdown post", ["NATO"], "https://news.test/p/a/",
             "Md " + LONG_PARA + "\n\nSecond paragraph.\n"),
        ], feed_url=feed.url)
        run(conf, "ingest", check=True)      # at the default 280

        text, html = parts(preview(conf, "-o", "digest.excerpt_chars=0"))
        for title in ("Markdown post", "Feed post"):
            assert title in text and title in html
        for body in ("Md word000", "Feed word000", "word001"):
            assert body not in text and body not in html
        # titles only leaves no empty excerpt line behind
        assert "\n    \n" not in text

        for n in (40, 2000, 280):
            msg = preview(conf, "-o", f"digest.excerpt_chars={n}")
            text, html = parts(msg)
            for prefix in ("Md", "Feed"):
                want = f"{prefix} {LONG_PARA}"
                shown = text_excerpt(text, f"{prefix} word000")
                if n >= len(want):
                    assert shown == want
                    assert f"<p>{want}</p>" in html
                else:
                    assert shown.endswith("…") and len(shown) <= n + 1, (n, shown)
                    assert want.startswith(shown[:-1])
                    assert f"<p>{shown}</p>" in html
    finally:
        feed.stop()


@pytest.mark.sqlite_only("replays SQLite's migration 5 (PRAGMA user_version); "
                        "PostgreSQL's schema history starts past it")
def test_stored_excerpts_are_made_whole_again(tmp_path):
    """Item 4, for a store written before excerpts were cut at render time:
    its rows hold excerpts cut at ingest. The migration makes the next
    ingest fetch the feed in full and rewrite every post in place (same
    seq, not announced again), so a longer excerpt_chars shows more."""
    feed = FeedServer(rss("Feed " + LONG_PARA))
    try:
        conf = write_site(tmp_path, [
            ("a.md", "Markdown post", ["NATO"], "https://news.test/p/a/",
             "Md " + LONG_PARA + "\n"),
        ], feed_url=feed.url)
        run(conf, "run", check=True)
        assert feed.seen == [None]
        db_path = tmp_path / "var" / "store.db"
        db = sqlite3.connect(db_path)
        seqs = dict(db.execute("SELECT guid, seq FROM posts"))
        version = db.execute("PRAGMA user_version").fetchone()[0]
        # what an older tagdigest stored: excerpts cut at 280 on ingest
        db.execute("UPDATE posts SET excerpt_text = substr(excerpt_text, 1, 100) || '…',"
                   " excerpt_html = '<p>' || substr(excerpt_text, 1, 100) || '…</p>'")
        # version 4: the one before the migration that came with this
        # change (5); it and those after it run again
        db.execute("PRAGMA user_version = 4")
        db.commit()
        db.close()

        p = run(conf, "ingest", check=True)
        assert "2 updated" in p.stderr.decode() + p.stdout.decode()
        assert feed.seen == [None, None]     # fetched in full, not a 304
        db = sqlite3.connect(db_path)
        assert dict(db.execute("SELECT guid, seq FROM posts")) == seqs
        assert db.execute("PRAGMA user_version").fetchone()[0] == version
        excerpts = [r[0] for r in db.execute("SELECT excerpt_text FROM posts ORDER BY seq")]
        db.close()
        assert excerpts == [f"Md {LONG_PARA}", f"Feed {LONG_PARA}"]
        # the next ingest is quiet again: a 304, nothing rewritten
        run(conf, "ingest", check=True)
        assert feed.seen[-1] == '"v1"'
        # and the rewritten posts are not announced again
        p = run(conf, "run", check=True)
        assert "nothing new to send" in p.stdout.decode()
    finally:
        feed.stop()


def test_markdown_controls_are_stripped(tmp_path):
    """Item 10: ESC, VT, BEL, DEL (raw or as a character reference) in a
    Markdown post reach neither part of the digest."""
    body = ("Alert \x1b[31mred\x1b[0m and\x0b vertical\x07 bell\x7f end &#27;[2J.\n\n"
            "Second paragraph.\n")
    conf = write_site(tmp_path, [
        ("c.md", "Controls", ["NATO"], "https://news.test/p/c/", body),
    ])
    run(conf, "run", check=True)
    msg = delivered(tmp_path)
    text, html = parts(msg)
    controls = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
    assert not controls.search(text), repr(text)
    assert not controls.search(html), repr(html)
    assert "Alert [31mred[0m and vertical bell end [2J." in text
    assert "<p>Alert [31mred[0m and vertical bell end [2J.</p>" in html

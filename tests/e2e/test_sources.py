"""Many feeds, one store (issue 9): the same article from several
WordPress-style tag feeds is one post; feed links become valid URLs; each
feed is stored as soon as its download ends. Feeds are served by a Python
HTTP server on loopback whose content each test sets; mail is read back
with Python's email package."""
import functools
import html.parser
import http.server
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import BIN, ROOT, STORE_ERRORS, open_store, parse, run


class Feeds(http.server.SimpleHTTPRequestHandler):
    """Serves the feeds a test writes under its www/ folder; a request for
    a path in `held` waits for that event first."""
    held = {}
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".rss": "application/rss+xml; charset=UTF-8"}

    def do_GET(self):
        gate = Feeds.held.get(self.path)
        if gate is not None:
            gate.wait(timeout=30)   # bounded, whatever the test does
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """(base URL, folder served)"""
    www = tmp_path / "www"
    www.mkdir()
    Feeds.held = {}
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Feeds, directory=str(www)))
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", www
    for gate in Feeds.held.values():
        gate.set()
    srv.shutdown()
    srv.server_close()
    t.join(timeout=5)


def publish(www, path, body):
    """Puts a feed up, or a new version of it: the server answers
    conditional GETs by the file's time, so a new version is a later one."""
    f = www / path.lstrip("/")
    f.parent.mkdir(parents=True, exist_ok=True)
    before = f.stat().st_mtime if f.exists() else None
    f.write_bytes(body)
    if before is not None:
        os.utime(f, (before + 60, before + 60))


def item(guid, link, title, cats, permalink=False):
    """One RSS item as WordPress writes it (link and guid are written as
    given: the tests put character references in them)."""
    cat = "".join(f"<category><![CDATA[{c}]]></category>" for c in cats)
    return (f"<item><title>{title}</title><link>{link}</link>"
            f"<pubDate>Sat, 08 Jul 2017 10:00:00 +0000</pubDate>{cat}"
            f'<guid isPermaLink="{"true" if permalink else "false"}">{guid}</guid>'
            f"<description><![CDATA[<p>About {title}.</p>]]></description></item>")


def rss(title, items):
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>https://blog.test/</link>"
            + "".join(items) + "</channel></rss>").encode()


def site(root, base, sources, subscribers):
    """A site whose text template also lists each post's tags, so the
    merged tags can be read from the mail."""
    shutil.copytree(ROOT / "templates", root / "templates")
    txt = root / "templates" / "digest.txt.mustache"
    t, n = re.subn(r"^(.*)\{\{excerpt_text\}\}\n", r"\g<0>\1tags:{{#tags}} {{slug}}{{/tags}}\n",
                   txt.read_text(encoding="utf-8"), count=1, flags=re.M)
    assert n == 1
    txt.write_text(t, encoding="utf-8")
    (root / "subscribers.csv").write_text(
        "email,name,tags\n" + "".join(f"{a},,{t}\n" for a, t in subscribers), encoding="utf-8")
    conf = root / "tagdigest.conf"
    conf.write_text(
        "[site]\nname = Blog Weekly\nurl = https://blog.test\nfrom = digest@blog.test\n"
        "[store]\npath = var/store.db\n[subscribers]\npath = subscribers.csv\n"
        f"[templates]\ndir = templates\n[transport]\ntype = maildir\npath = {root / 'outbox'}\n"
        + "".join(f"[source.{name}]\ntype = feed\nurl = {base}{path}\n" for name, path in sources),
        encoding="utf-8")
    return conf


def take_messages(root):
    """Parsed messages in outbox/new by recipient; moved to cur/ so the
    next call sees only newer ones."""
    out = {}
    new, cur = root / "outbox" / "new", root / "outbox" / "cur"
    for f in sorted(new.iterdir()):
        m = parse(f.read_bytes())
        out[m["To"].addresses[0].addr_spec] = m
        f.rename(cur / f.name)
    return out


def text_of(msg):
    """The text part with its lines joined by "\n" (a CR alone breaks a
    line too, as it does in a mail reader)."""
    return "\n".join(msg.get_body(("plain",)).get_content().splitlines())


def tags_of(text, title):
    """The tags line under each post with this title, as lists of slugs."""
    lines = text.splitlines()
    found = []
    for k, line in enumerate(lines):
        if line.rstrip().endswith(" " + title):
            tags = [x.strip() for x in lines[k + 1:] if x.strip().startswith("tags:")][0]
            found.append(tags[len("tags:"):].split())
    return found


def link_list(text):
    """The numbered links at the end of the text part, as lines."""
    tail = text.split("\nLinks:\n", 1)[1]
    return tail.split("\n\n", 1)[0].splitlines()


SUMMIT = "https://blog.test/2017/07/08/summit/"
SUMMIT_GUID = "https://blog.test/?p=42"


def slot_now():
    """-o options that make the weekly slot the minute that just passed."""
    now = time.gmtime()
    return ["-o", f"schedule.day={time.strftime('%A', now).lower()}",
            "-o", f"schedule.time={time.strftime('%H:%M', now)}", "-o", "schedule.timezone=UTC"]


def test_one_article_from_many_tag_feeds(tmp_path, server):
    base, www = server
    """Item 2: the article tagged NATO and USA comes in both tag feeds; it
    is announced once, counted once, carries both feeds' categories, and a
    third feed that brings it later does not change its seq and makes it
    news only for the readers of the tag it adds."""
    publish(www, "/tag/nato/feed.rss", rss("Blog – NATO", [
        item(SUMMIT_GUID, SUMMIT, "NATO summit in Brussels", ["NATO", "Diplomacy"]),
        # a bare guid means something only inside its own feed
        item("7", "https://blog.test/y/", "Y from the NATO feed", ["NATO"]),
    ]))
    publish(www, "/tag/usa/feed.rss", rss("Blog – USA", [
        item(SUMMIT_GUID, SUMMIT, "NATO summit in Brussels", ["USA"]),
        item("7", "https://other.test/z/", "Z from the USA feed", ["USA"]),
    ]))
    publish(www, "/tag/eu/feed.rss", rss("Blog – EU", []))
    conf = site(tmp_path, base,
                [("nato", "/tag/nato/feed.rss"), ("usa", "/tag/usa/feed.rss"), ("eu", "/tag/eu/feed.rss")],
                [("both@example.org", "nato;usa"), ("diplo@example.org", "diplomacy"),
                 ("eu@example.org", "eu")])
    p = run(conf, "run", check=True)
    msgs = take_messages(tmp_path)
    assert set(msgs) == {"both@example.org", "diplo@example.org"}, p.stderr.decode()

    both = msgs["both@example.org"]
    # X, Y and Z: three posts, whatever number of feeds carried them
    assert both["Subject"] == "Blog Weekly: 3 new posts in NATO and USA"
    text = text_of(both)
    assert text.count(SUMMIT) == 1, text
    assert [line for line in link_list(text) if line.endswith(" " + SUMMIT)]
    assert "https://blog.test/y/" in text and "https://other.test/z/" in text
    # the post's tags are the union of both feeds' categories
    assert tags_of(text, "NATO summit in Brussels") == [["diplomacy", "nato", "usa"]], text
    html = both.get_body(("html",)).get_content()
    per_post = (ROOT / "templates" / "partials" / "post.mustache").read_text(
        encoding="utf-8").count('href="{{url}}"')
    assert per_post and html.count(f'href="{SUMMIT}"') == per_post
    diplo = msgs["diplo@example.org"]
    assert diplo["Subject"] == "Blog Weekly: 1 new post in Diplomacy"
    assert text_of(diplo).count(SUMMIT) == 1

    with open_store(tmp_path, readonly=True) as db:
        first = db.execute("SELECT seq FROM posts WHERE url = ?", (SUMMIT,)).fetchall()
    assert len(first) == 1

    # a week later the EU feed carries it too, under a guid of its own and
    # a link spelled another way, next to a fresh post
    fresh = "https://blog.test/2017/07/15/fresh/"
    publish(www, "/tag/eu/feed.rss", rss("Blog – EU", [
        item("42", "https://Blog.Test:443/2017/07/08/summit?utm_source=rss&amp;utm_medium=feed"
             "#more-42", "NATO summit in Brussels", ["EU"]),
        item("https://blog.test/?p=50", fresh, "Fresh EU news", ["EU", "NATO"]),
    ]))
    p = run(conf, "ingest", check=True)
    out = p.stdout.decode()
    assert "1 new," in out and "1 already stored from another source" in out, out
    with open_store(tmp_path, readonly=True) as db:
        again = db.execute("SELECT seq FROM posts WHERE title = 'NATO summit in Brussels'"
                           ).fetchall()
    assert again == first
    run(conf, *slot_now(), "send", check=True)
    msgs = take_messages(tmp_path)
    assert set(msgs) == {"both@example.org", "eu@example.org"}
    # the reader of NATO and USA had it; the reader of EU gets it now,
    # since EU is the tag it came to them by (and once: it is one post)
    text = text_of(msgs["both@example.org"])
    assert "summit" not in text.lower() and fresh in text, text
    text = text_of(msgs["eu@example.org"])
    assert text.count(SUMMIT) == 1 and fresh in text, text
    assert msgs["eu@example.org"]["Subject"] == "Blog Weekly: 2 new posts in EU"
    assert msgs["both@example.org"]["Subject"] == "Blog Weekly: 1 new post in NATO"


def test_relative_guids_from_tag_feeds(tmp_path, server):
    base, www = server
    """Item 2: a feed that writes its guids as "123" with isPermaLink left
    at true has them resolved against its own URL (as feedparser does), so
    each tag feed gives the article another absolute guid. Those mean
    nothing outside their feed: the article is one post by its link, and
    "123" from the two feeds does not hold it apart."""
    publish(www, "/tag/nato/feed.rss", rss("Blog – NATO", [
        item("123", SUMMIT, "NATO summit in Brussels", ["NATO"], permalink=True)]))
    publish(www, "/tag/usa/feed.rss", rss("Blog – USA", [
        item("123", SUMMIT, "NATO summit in Brussels", ["USA"], permalink=True)]))
    conf = site(tmp_path, base, [("nato", "/tag/nato/feed.rss"), ("usa", "/tag/usa/feed.rss")],
                [("both@example.org", "nato;usa")])
    out = run(conf, "ingest", check=True).stdout.decode()
    assert "1 new," in out and "1 already stored from another source" in out, out
    run(conf, "run", check=True)
    msg = take_messages(tmp_path)["both@example.org"]
    assert msg["Subject"] == "Blog Weekly: 1 new post in NATO"
    text = text_of(msg)
    assert text.count(SUMMIT) == 1, text
    tags = re.findall(r"NATO summit in Brussels\n.*\n.*\n    tags:(.*)\n", text)
    assert tags == [" nato usa"], text


def test_feed_links_become_valid_urls(tmp_path, server):
    base, www = server
    """Item 8: a link with CR LF inside is stored as one URL (the text
    part's link list stays one URL per line); a link no URL can be made of
    is dropped with a warning naming the source and the item."""
    publish(www, "/tag/nato/feed.rss", rss("Blog – NATO", [
        item("https://blog.test/?p=1", "https://blog.test/2017/07/09/first-line&#13;&#10;"
             "X-Injected: yes/", "A link in two lines", ["NATO"]),
        item("https://blog.test/?p=2", "https://blog.test/2017/07/10/del&#127;ete/",
             "A link with a DEL", ["NATO"]),
        item("https://blog.test/?p=3", "  /2017/07/11/relative/  ", "A relative link", ["NATO"]),
    ]))
    conf = site(tmp_path, base, [("split", "/tag/nato/feed.rss")],
                [("nato@example.org", "nato")])
    p = run(conf, "run", check=True)
    msgs = take_messages(tmp_path)
    text = text_of(msgs["nato@example.org"])
    links = link_list(text)
    for line in links:
        assert re.fullmatch(r" *\[\d+\] https?://[\x21-\x7e]+", line), links
    urls = {line.split("] ", 1)[1] for line in links}
    assert "https://blog.test/2017/07/09/first-lineX-Injected:%20yes/" in urls, links
    assert f"{base}/2017/07/11/relative/" in urls, links
    err = p.stderr.decode()
    assert "source 'split': item 2: link is not a valid absolute http(s) URL" in err, err
    assert "A link with a DEL" not in text
    assert msgs["nato@example.org"]["Subject"] == "Blog Weekly: 2 new posts in NATO"


def test_each_feed_is_stored_when_it_arrives(tmp_path, server):
    base, www = server
    """Item 12: a feed's posts are in the store while another feed is
    still downloading (before, every body was held until all had come)."""
    publish(www, "/slow/feed.rss", rss("Slow", [
        item("https://blog.test/?p=10", "https://blog.test/slow/", "Slow post", ["NATO"])]))
    publish(www, "/quick/feed.rss", rss("Quick", [
        item("https://blog.test/?p=11", "https://blog.test/quick/", "Quick post", ["NATO"])]))
    gate = Feeds.held["/slow/feed.rss"] = threading.Event()
    conf = site(tmp_path, base, [("slow", "/slow/feed.rss"), ("quick", "/quick/feed.rss")],
                [("nato@example.org", "nato")])
    proc = subprocess.Popen([BIN, "-c", str(conf), "ingest"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    seen = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not seen and proc.poll() is None:
            try:
                with open_store(tmp_path, readonly=True, timeout=0.2) as db:
                    seen = db.execute("SELECT title FROM posts").fetchall()
            except STORE_ERRORS:
                pass   # not created or not migrated yet
            if not seen:
                time.sleep(0.05)
    finally:
        gate.set()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert seen == [("Quick post",)], "the quick feed was not stored while the slow one downloaded"
    with open_store(tmp_path, readonly=True) as db:
        titles = sorted(t for (t,) in db.execute("SELECT title FROM posts"))
    assert titles == ["Quick post", "Slow post"]
    assert "2 new" in out.decode()


def past_slot(minutes):
    """-o options that make the weekly slot the minute `minutes` ago."""
    t = time.gmtime(time.time() - minutes * 60)
    return ["-o", f"schedule.day={time.strftime('%A', t).lower()}",
            "-o", f"schedule.time={time.strftime('%H:%M', t)}", "-o", "schedule.timezone=UTC"]


def waiting(status_out):
    """{email: posts waiting} from `tagdigest status`."""
    counts = {}
    for line in status_out.splitlines():
        m = re.match(r"  (\S+@\S+) .* (\d+)$", line)
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


def desk_waiting(conf):
    """{tag slug: posts waiting} from the editors' desk's home page."""
    from test_serve import Server
    s = Server(conf)
    try:
        status, _, body = s.get("/")
    finally:
        assert s.stop() == 0, s.output()
    assert status == 200
    return TagRows.read(body.decode())


class TagRows(html.parser.HTMLParser):
    """The home page's tag table: per row, the slug (the first cell's
    `dim` span) and the number in the cell of class `waiting`."""

    def __init__(self):
        super().__init__()
        self.rows, self.cell, self.slug, self.waiting, self.span = {}, 0, None, None, None

    @classmethod
    def read(cls, text):
        p = cls()
        p.feed(text)
        p.close()
        return p.rows

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            self.cell, self.slug, self.waiting = 0, None, None
        elif tag == "td":
            self.cell += 1
            self.span = "waiting" if "waiting" in (a.get("class") or "").split() else None
        elif tag == "span" and self.cell == 1 and "dim" in (a.get("class") or "").split():
            self.span = "slug"

    def handle_data(self, data):
        if self.span == "slug":
            self.slug = (self.slug or "") + data
        elif self.span == "waiting":
            self.waiting = (self.waiting or "") + data

    def handle_endtag(self, tag):
        if tag == "span" and self.span == "slug":
            self.span = None
        elif tag == "td":
            self.span = None
        elif tag == "tr" and self.slug and self.waiting and self.waiting.strip().isdigit():
            self.rows[self.slug.strip()] = int(self.waiting.strip())


def test_late_source_reaches_its_readers(tmp_path, server):
    base, www = server
    """Review of item 2, A: article X came in the NATO feed and went out;
    a week later the USA feed carries it too. It stays one post with its
    seq, and reaches the readers of USA alone, once; a reader who had it
    through NATO does not get it again, whichever other tag brings it.
    `status` and the desk count it the same way."""
    x, x_guid = "https://blog.test/2017/07/20/x/", "https://blog.test/?p=70"
    y = "https://blog.test/2017/07/19/y/"
    publish(www, "/tag/nato/feed.rss", rss("Blog – NATO", [
        item(x_guid, x, "Article X", ["NATO"])]))
    publish(www, "/tag/usa/feed.rss", rss("Blog – USA", [
        item("https://blog.test/?p=71", y, "Article Y", ["USA"])]))
    readers = [("u@example.org", "usa"), ("n@example.org", "nato"),
               ("b@example.org", "nato;usa"), ("w@example.org", "nato;world")]
    conf = site(tmp_path, base, [("nato", "/tag/nato/feed.rss"), ("usa", "/tag/usa/feed.rss")],
                readers)
    run(conf, *past_slot(2), "run", check=True)
    msgs = take_messages(tmp_path)
    assert set(msgs) == {a for a, _ in readers}
    assert x not in text_of(msgs["u@example.org"])
    for a in ("n@example.org", "b@example.org", "w@example.org"):
        assert text_of(msgs[a]).count(x) == 1, a

    publish(www, "/tag/usa/feed.rss", rss("Blog – USA", [
        item(x_guid, x, "Article X", ["USA", "World"]),
        item("https://blog.test/?p=71", y, "Article Y", ["USA"])]))
    out = run(conf, "ingest", check=True).stdout.decode()
    assert "1 already stored from another source" in out, out
    with open_store(tmp_path, readonly=True) as db:
        assert db.execute("SELECT COUNT(*) FROM posts WHERE url = ?", (x,)).fetchone() == (1,)
    assert waiting(run(conf, "status", check=True).stdout.decode()) == {
        "u@example.org": 1, "n@example.org": 0, "b@example.org": 0, "w@example.org": 0}
    desk = desk_waiting(conf)
    assert desk["usa"] == 1 and desk["nato"] == 0 and desk["world"] == 0, desk

    run(conf, *past_slot(1), "send", check=True)
    msgs = take_messages(tmp_path)
    assert set(msgs) == {"u@example.org"}
    assert msgs["u@example.org"]["Subject"] == "Blog Weekly: 1 new post in USA"
    text = text_of(msgs["u@example.org"])
    assert text.count(x) == 1 and y not in text, text
    assert set(waiting(run(conf, "status", check=True).stdout.decode()).values()) == {0}

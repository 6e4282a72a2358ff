"""Feeds end to end: WordPress-style tag feeds served from loopback become
digests whose posts, tags and excerpts match the feeds."""
import http.server
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, http_server, parse, run

RSS_ITEMS = [
    # (slug, title, categories, summary html, content html)
    ("johnson", "Johnson-Lavrov agreed on “global duties”", ["Sergey Lavrov", "UK"],
     "<p>The UK Foreign Secretary met Sergey Lavrov in Moscow.</p>",
     "<p>The UK Foreign Secretary met <b>Sergey Lavrov</b>.</p><script>alert(1)</script>"),
    ("roadmap", "Russia-China roadmap for North Korea", ["Sergey Lavrov", "North Korea"],
     "<p>A joint roadmap &amp; a call to world powers.</p><p>Second paragraph.</p>",
     "<p>Full text <img src=x onerror=alert(1)></p>"),
    ("brussels", "Lavrov to visit Brussels", ["Sergey Lavrov", "EU"],
     "<p>Talks with Federica Mogherini on 11 July.</p>", ""),
]
ATOM_ENTRIES = [
    ("nato-1", "Lavrov: NATO ambitions “never changed”", "NATO's plans have never changed, Lavrov said."),
]


def rss():
    items = []
    for i, (slug, title, cats, summary, content) in enumerate(RSS_ITEMS):
        cat = "".join(f"<category><![CDATA[{c}]]></category>" for c in cats)
        items.append(
            f"<item><title>{title}</title><link>/2017/{slug}/</link>"
            f"<dc:creator>Newsroom</dc:creator>"
            f"<pubDate>Fri, 0{i + 1} Dec 2017 10:00:00 +0000</pubDate>{cat}"
            f'<guid isPermaLink="false">https://blog.test/?p={i}</guid>'
            f"<description><![CDATA[{summary}]]></description>"
            + (f"<content:encoded><![CDATA[{content}]]></content:encoded>" if content else "")
            + "</item>")
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            '<title>Blog – Sergey Lavrov</title><link>https://blog.test/</link>'
            '<atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="self" href="x"/>'
            + "".join(items) + "</channel></rss>").encode()


def atom():
    entries = "".join(
        f'<entry><id>tag:blog.test,2017:{i}</id><title type="text">{t}</title>'
        f'<link rel="alternate" href="https://blog.test/2017/{i}/"/>'
        f"<updated>2017-06-27T10:00:00Z</updated><author><name>Desk</name></author>"
        f'<summary type="html">&lt;p&gt;{s}&lt;/p&gt;</summary></entry>'
        for i, t, s in ATOM_ENTRIES)
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<title>NATO tag</title><id>tag:blog.test,2017:nato</id>"
            "<updated>2017-06-27T10:00:00Z</updated>" + entries + "</feed>").encode()


class Feeds(http.server.BaseHTTPRequestHandler):
    seen = []   # (path, If-None-Match) of every request

    def do_GET(self):
        Feeds.seen.append((self.path, self.headers.get("If-None-Match")))
        if self.path == "/tag/sergey-lavrov/feed/":
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.end_headers()
                return
            body, ctype = rss(), "application/rss+xml; charset=UTF-8"
        elif self.path == "/tag/nato/feed/":
            body, ctype = atom(), "application/atom+xml"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def feed_server():
    Feeds.seen = []
    with http_server(Feeds) as origin:
        yield origin


def site(root, base):
    shutil.copytree(ROOT / "templates", root / "templates")
    (root / "subscribers.csv").write_text(
        "email,name,tags\n"
        "lavrov@example.org,Lavrov Reader,sergey-lavrov\n"
        "korea@example.org,Korea Reader,north-korea\n"
        "nato@example.org,NATO Reader,nato\n", encoding="utf-8")
    conf = root / "tagdigest.conf"
    conf.write_text(
        "[site]\nname = Blog Weekly\nurl = https://blog.test\nfrom = digest@blog.test\n"
        "[store]\npath = var/store.db\n[subscribers]\npath = subscribers.csv\n"
        f"[templates]\ndir = templates\n[transport]\ntype = maildir\npath = {root / 'outbox'}\n"
        f"[source.lavrov]\ntype = feed\nurl = {base}/tag/sergey-lavrov/feed/\n"
        f"[source.nato]\ntype = feed\nurl = {base}/tag/nato/feed/\ncategories = no\n"
        "tags = NATO\n"
        f"[source.gone]\ntype = feed\nurl = {base}/tag/gone/feed/\n", encoding="utf-8")
    return conf


def messages(root):
    out = {}
    for f in (root / "outbox" / "new").iterdir():
        m = parse(f.read_bytes())
        out[m["To"].addresses[0].addr_spec] = m
    return out


def test_tag_feeds_become_digests(tmp_path, feed_server):
    conf = site(tmp_path, feed_server)
    p = run(conf, "run")
    err = p.stderr.decode()
    # the missing feed is reported with its name, URL and reason, and in
    # the exit status (69: could not be fetched); the others went on
    assert p.returncode == 69, err
    assert f"source 'gone': {feed_server}/" in err and "404" in err, err
    msgs = messages(tmp_path)
    assert set(msgs) == {"lavrov@example.org", "korea@example.org", "nato@example.org"}

    # what each reader must see, read from the feeds themselves
    want_lavrov = {f"{feed_server}/2017/{slug}/" for slug, *_ in RSS_ITEMS}
    lav_text = msgs["lavrov@example.org"].get_body(("plain",)).get_content()
    lav_html = msgs["lavrov@example.org"].get_body(("html",)).get_content()
    assert set(re.findall(re.escape(feed_server) + r"/2017/[a-z]+/", lav_text)) == want_lavrov
    for slug, title, cats, summary, content in RSS_ITEMS:
        assert title in lav_text
        first_para = ET.fromstring(re.search(r"<p>.*?</p>", summary).group(0))
        assert "".join(first_para.itertext()) in lav_text       # excerpt, as text
    assert "Second paragraph" not in lav_text                   # only the first paragraph
    assert "A joint roadmap &amp; a call to world powers." in lav_html
    assert "<script" not in lav_html and "onerror" not in lav_html

    # a category of the feed became a tag of its own
    korea = msgs["korea@example.org"].get_body(("plain",)).get_content()
    assert "Russia-China roadmap for North Korea" in korea and "Brussels" not in korea
    assert msgs["korea@example.org"]["Subject"] == "Blog Weekly: 1 new post in North Korea"

    # categories = no, tags = NATO: the Atom entry is filed under NATO only
    nato = msgs["nato@example.org"].get_body(("plain",)).get_content()
    assert "Lavrov: NATO ambitions “never changed”" in nato
    assert "https://blog.test/2017/nato-1/" in nato

    # second run: the lavrov feed is not modified (304), nothing new is sent
    p = run(conf, "run")
    assert p.returncode == 69, p.stderr.decode()
    assert "nothing new to send" in p.stdout.decode()
    assert "3 sources: 1 read, 1 not modified, 1 failed" in p.stdout.decode(), p.stdout.decode()
    lav_requests = [h for path, h in Feeds.seen if path == "/tag/sergey-lavrov/feed/"]
    assert lav_requests == [None, '"v1"']
    st = run(conf, "status", check=True).stdout.decode()
    gone = [line for line in st.splitlines() if line.strip().startswith("gone")][0]
    assert "consecutive failures: 2" in gone and "404" in gone
    lavrov = [line for line in st.splitlines() if line.strip().startswith("lavrov")][0]
    assert "consecutive failures: 0" in lavrov and "never" not in lavrov


def test_feed_dump_cli(tmp_path, feed_server):
    conf = site(tmp_path, feed_server)
    p = run(conf, "feed-dump", f"{feed_server}/tag/sergey-lavrov/feed/", check=True)
    import json
    d = json.loads(p.stdout)
    assert d["version"] == "rss20" and not d["bozo"]
    assert [e["title"] for e in d["entries"]] == [t for _, t, *_ in RSS_ITEMS]
    assert d["entries"][0]["tags"][0]["term"] == "Sergey Lavrov"

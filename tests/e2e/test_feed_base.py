"""A feed's relative links, resolved the way a real fetch sees them.

The server on 127.0.0.1 redirects the configured feed URL, then answers with
a feed whose item links and excerpt links are relative and a
Content-Location header that is itself relative. The digest must carry
post URLs and excerpt links resolved against that Content-Location
(made absolute against the URL after the redirect), as feedparser does;
a Content-Location that is not http(s) must be ignored, leaving the
address the feed came from as the base.
"""
import http.server
import json
import shutil
from html.parser import HTMLParser

import pytest

from conftest import ROOT, http_server, parse, run

# (slug, title, link as written, excerpt link as written)
ITEMS = [
    ("hello", "Hello from the archive", "posts/hello/", "../notes/n1.html"),
    ("second", "A second post", "posts/second/", "notes/n2.html"),
]


def rss(items, tag):
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link>"
        f"<guid isPermaLink=\"false\">{tag}-{slug}</guid>"
        f"<category>{tag}</category>"
        f"<pubDate>Mon, 0{i + 1} Jan 2024 10:00:00 +0000</pubDate>"
        f"<description><![CDATA[<p>See <a href=\"{ref}\">the notes</a> "
        f"on {title}.</p>]]></description></item>"
        for i, (slug, title, link, ref) in enumerate(items))
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{tag}</title><link>/</link>" + body + "</channel></rss>").encode()


class Server(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/old/feed":
            self.send_response(301)
            self.send_header("Location", "/feeds/main.xml")
            self.send_header("Content-Location", "/wrong/redirect-body.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/feeds/main.xml":
            body, location = rss(ITEMS, "archive"), "../blog/2017/feed.xml"
        elif self.path == "/feeds/script.xml":
            body, location = rss(ITEMS[:1], "scripted"), "javascript:alert(1)//"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    with http_server(Server) as origin:
        yield origin


def site(root, origin):
    shutil.copytree(ROOT / "templates", root / "templates")
    (root / "subscribers.csv").write_text(
        "email,name,tags\n"
        "archive@example.org,Archive Reader,archive\n"
        "scripted@example.org,Scripted Reader,scripted\n", encoding="utf-8")
    conf = root / "tagdigest.conf"
    conf.write_text(
        "[site]\nname = Base Weekly\nurl = https://base.test\nfrom = digest@base.test\n"
        "[store]\npath = var/store.db\n[subscribers]\npath = subscribers.csv\n"
        f"[templates]\ndir = templates\n[transport]\ntype = maildir\npath = {root / 'outbox'}\n"
        f"[source.archive]\ntype = feed\nurl = {origin}/old/feed\n"
        f"[source.scripted]\ntype = feed\nurl = {origin}/feeds/script.xml\n",
        encoding="utf-8")
    return conf


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href"]


def hrefs(html):
    p = Links()
    p.feed(html)
    p.close()
    return set(p.hrefs)


def digest_for(root, addr):
    for f in (root / "outbox" / "new").iterdir():
        m = parse(f.read_bytes())
        if m["To"].addresses[0].addr_spec == addr:
            return (m.get_body(("plain",)).get_content(),
                    m.get_body(("html",)).get_content())
    raise AssertionError(f"no digest for {addr}")


def test_content_location_is_the_base(tmp_path, server):
    conf = site(tmp_path, server)
    run(conf, "run", check=True)

    # /old/feed -> /feeds/main.xml, Content-Location ../blog/2017/feed.xml:
    # the base is /blog/2017/feed.xml on the same origin
    base = f"{server}/blog/2017/"
    want_posts = {base + "posts/hello/", base + "posts/second/"}
    want_refs = {f"{server}/blog/notes/n1.html", base + "notes/n2.html"}
    text, html = digest_for(tmp_path, "archive@example.org")
    links = hrefs(html)
    assert want_posts <= links, links
    assert want_refs <= links, links
    for url in want_posts:
        assert url in text
    # nothing was resolved against the address the body came from
    assert not [u for u in links if "/feeds/" in u or "/wrong/" in u], links

    # a javascript: Content-Location is ignored: the feed's own URL is the base
    text, html = digest_for(tmp_path, "scripted@example.org")
    links = hrefs(html)
    assert f"{server}/feeds/posts/hello/" in links, links
    assert f"{server}/notes/n1.html" in links, links
    assert not [u for u in links if "javascript" in u.lower()], links


def test_feed_dump_uses_content_location(tmp_path, server):
    conf = site(tmp_path, server)
    p = run(conf, "feed-dump", f"{server}/old/feed", check=True)
    d = json.loads(p.stdout)
    base = f"{server}/blog/2017/"
    assert [e["link"] for e in d["entries"]] == [base + "posts/hello/",
                                                 base + "posts/second/"]
    assert hrefs(d["entries"][0]["summary"]) == {f"{server}/blog/notes/n1.html"}
    assert d["entries"][0]["summary_detail"]["base"] == base + "feed.xml"

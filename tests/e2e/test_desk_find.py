"""End to end: the desk's reader search, reader page and run history
(`tagdigest serve`, issue 13 "The desk, for an editor with 5,000
readers"), over real HTTP against the real binary.

A site of 5,000 readers (the fixture's five, a reader named like markup,
one with a % in the name, and 4,993 generated rows) is imported with
`subscribers import`; pages are parsed with html.parser into a small
tree and read by id, class and rel, not by patterns over the markup.
"""
import html.parser
import os
import pathlib
import signal
import subprocess
import urllib.parse

import pytest

from conftest import BIN, write_site
from test_serve import ENV, Server, tdrun, wait_for

BULK = 4993
TOTAL = 5000
EVIL = "<script>alert(1)</script>"


# ---- a small tree of the page ----

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.walk()

    def find_all(self, tag=None, **attrs):
        out = []
        for n in self.walk():
            if tag and n.tag != tag:
                continue
            if all((v in n.attrs.get(k, "").split()) if k == "class" else n.attrs.get(k) == v
                   for k, v in attrs.items()):
                out.append(n)
        return out

    def find(self, tag=None, **attrs):
        got = self.find_all(tag, **attrs)
        return got[0] if got else None


class TreeBuilder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", [], None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def tree(body):
    b = TreeBuilder()
    b.feed(body.decode("utf-8"))
    b.close()
    return b.root


def page(server, path, want=200):
    st, h, body = server.get(path)
    assert st == want, f"{path}: {st}\n{body[:2000]!r}"
    if want == 200:
        assert h["content-type"].startswith("text/html")
    return tree(body)


def results(doc):
    """(address, name, status, reader page href, preview href or None) per row."""
    table = doc.find("table", id="results")
    if table is None:
        return []
    out = []
    for tr in table.find("tbody").find_all("tr"):
        a = tr.find("a", **{"class": "reader"})
        pv = tr.find("a", **{"class": "preview"})
        out.append((a.text(), tr.find("td", **{"class": "name"}).text(),
                    tr.find("td", **{"class": "status"}).text(), a.attrs["href"],
                    pv.attrs["href"] if pv else None))
    return out


def q(s):
    return urllib.parse.quote(s, safe="")


def bulk_name(i):
    return f"Ödön Ürge {i}" if i % 500 == 7 else f"Reader {i}"


def bulk_rows():
    rows = []
    for i in range(BULK):
        # one reader in a hundred follows a tag with posts; the rest a tag
        # without (their digest is skipped)
        tags = "usa" if i % 100 == 0 else "weather"
        rows.append(f'reader{i:04d}@bulk.example,"{bulk_name(i)}",{tags}')
    rows.append(f'evil@bulk.example,"{EVIL}",usa')
    rows.append('percent@bulk.example,"Hundred% Sure",weather')
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def big_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("desk5000")
    conf = write_site(root, "maildir", extra_rows=bulk_rows())
    tdrun(conf, "ingest", check=True)
    p = tdrun(conf, "subscribers", "import", str(root / "subscribers.csv"), check=True,
              timeout=120)
    assert b"5000 added" in p.stdout + p.stderr, p.stdout + p.stderr
    return conf


@pytest.fixture(scope="module")
def desk(big_site):
    s = Server(big_site)
    yield s
    rc = s.stop()
    assert rc == 0, f"serve exited {rc} on SIGTERM:\n{s.output()}"


# ---- finding a reader ----

def test_search_by_address_part(desk):
    doc = page(desk, "/readers?q=" + q("DER012"))
    rows = results(doc)
    want = [f"reader{i:04d}@bulk.example" for i in range(120, 130)]
    assert [r[0] for r in rows] == want
    assert [r[1] for r in rows] == [bulk_name(i) for i in range(120, 130)]
    assert all(r[2] == "active" for r in rows)
    count = " ".join(doc.find(id="match-count").text().split())
    assert count.startswith(f"10 of 5,000 readers match"), count
    # each result leads to the reader's page and to their preview
    link = urllib.parse.urlsplit(rows[0][3])
    assert link.path == "/reader"
    assert urllib.parse.parse_qs(link.query) == {"email": ["reader0120@bulk.example"]}
    st, _, body = desk.get(rows[0][4])
    assert st == 200 and b"reader0120@bulk.example" in body


def test_search_by_name_non_ascii(desk):
    # lowercase query, capitals in the names: folded outside ASCII too
    doc = page(desk, "/readers?q=" + q("ödön ü"))
    rows = results(doc)
    want = [i for i in range(BULK) if i % 500 == 7]
    assert len(want) == 10
    assert [r[0] for r in rows] == [f"reader{i:04d}@bulk.example" for i in want]
    assert [r[1] for r in rows] == [bulk_name(i) for i in want]
    assert " ".join(doc.find(id="match-count").text().split()).startswith(
        "10 of 5,000 readers match")
    # the fixture's own non-ASCII name, by a part with a different case
    rows = results(page(desk, "/readers?q=" + q("MÜLLER")))
    assert [(r[0], r[1]) for r in rows] == [("juergen@example.org", "Jürgen Müller")]
    # the search box keeps the query (as a value, escaped)
    doc = page(desk, "/readers?q=" + q('"><b>x'))
    box = doc.find("form", id="search").find("input", name="q")
    assert box.attrs["value"] == '"><b>x'
    assert doc.find("b") is None


def test_search_wildcards_are_text(desk):
    rows = results(page(desk, "/readers?q=" + q("%")))
    assert [(r[0], r[1]) for r in rows] == [("percent@bulk.example", "Hundred% Sure")]
    assert results(page(desk, "/readers?q=" + q("_"))) == []
    doc = page(desk, "/readers?q=" + q("nobody-at-all"))
    assert results(doc) == []
    assert " ".join(doc.find(id="match-count").text().split()).startswith(
        "0 of 5,000 readers match")


def test_search_pages(desk):
    everyone_bulk = sorted([f"reader{i:04d}@bulk.example" for i in range(BULK)] +
                           ["evil@bulk.example", "percent@bulk.example"])
    doc = page(desk, "/readers?q=bulk.example")
    count = " ".join(doc.find(id="match-count").text().split())
    assert count.startswith(f"{len(everyone_bulk):,} of 5,000 readers match"), count
    assert "(showing 1–50)" in count
    seen = []
    path = "/readers?q=bulk.example"
    pages = 0
    # follow the "next" links to the end (bounded)
    while path and pages < 200:
        doc = page(desk, path)
        rows = results(doc)
        assert 0 < len(rows) <= 50
        seen += [r[0] for r in rows]
        nxt = doc.find("a", rel="next")
        if pages:
            assert doc.find("a", rel="prev") is not None
        path = nxt.attrs["href"] if nxt else None
        pages += 1
    assert pages == (len(everyone_bulk) + 49) // 50 == 100
    assert seen == everyone_bulk
    # an empty query lists everyone
    doc = page(desk, "/readers")
    assert len(results(doc)) == 50
    assert " ".join(doc.find(id="match-count").text().split()).startswith(
        "5,000 readers in the store")
    page(desk, "/readers?q=x&page=0", want=400)
    page(desk, "/readers?q=x&page=abc", want=400)


def test_page_past_the_end(desk):
    """A page past the last one (an old pager link, a hand-made address)
    is a 404 whose page links to the last page, for the search and the
    history alike; an empty list has one page."""
    for path, last in (("/readers?q=bulk.example&page=999", "/readers?q=bulk.example&page=100"),
                       ("/readers?q=bulk.example&page=101", "/readers?q=bulk.example&page=100"),
                       ("/readers?q=nobody-at-all&page=2", "/readers?q=nobody-at-all&page=1"),
                       ("/readers?q=" + q("Ödön") + "&page=3", "/readers?q=" + q("Ödön") + "&page=1"),
                       ("/history?page=999", "/history?page=1")):
        st, h, body = desk.get(path)
        assert st == 404 and h["content-type"].startswith("text/html"), (path, st)
        doc = tree(body)
        go = doc.find("a", id="go")
        assert go is not None and go.attrs["href"] == last, (path, body[:2000])
        assert "no page" in doc.find(id="error").text()
        # the link leads to a page with rows (or the empty list's one page)
        st, _, _ = desk.get(go.attrs["href"])
        assert st == 200, go.attrs["href"]
    # the last page itself is still there
    assert len(results(page(desk, "/readers?q=bulk.example&page=100"))) == 45


def test_search_text_not_utf8_or_padded(desk):
    """Bytes that are not UTF-8 are refused (400), never copied into the
    UTF-8 page; spaces around the query are not part of it."""
    for raw in ("%FF%FE", "reader%C3", "%ED%A0%80", "%C0%AF"):
        st, h, body = desk.get("/readers?q=" + raw)
        assert st == 400, (raw, st)
        body.decode("utf-8")  # the answer itself is UTF-8
        assert b"\xff" not in body and b"\xc0" not in body
        assert "not UTF-8" in tree(body).find(id="error").text()
    doc = page(desk, "/readers?q=+reader0120+")
    assert [r[0] for r in results(doc)] == ["reader0120@bulk.example"]
    count = " ".join(doc.find(id="match-count").text().split())
    assert count.startswith("1 of 5,000 readers match \u201creader0120\u201d"), count
    assert doc.find("form", id="search").find("input", name="q").attrs["value"] == "reader0120"
    doc = page(desk, "/readers?q=%09%20%20")
    assert len(results(doc)) == 50
    assert " ".join(doc.find(id="match-count").text().split()).startswith(
        "5,000 readers in the store")


def test_markup_in_a_name_is_text(desk):
    doc = page(desk, "/readers?q=script")
    rows = results(doc)
    assert [(r[0], r[1]) for r in rows] == [("evil@bulk.example", EVIL)]
    # the only script element is the desk's own
    assert [s.attrs.get("src") for s in doc.find_all("script")] == ["/static/desk.js"]
    doc = page(desk, "/reader?email=" + q("evil@bulk.example"))
    assert EVIL in doc.find("h1").text()
    assert [s.attrs.get("src") for s in doc.find_all("script")] == ["/static/desk.js"]


# ---- a reader's page ----

def test_reader_page(desk):
    doc = page(desk, "/reader?email=" + q("Reader0100@BULK.example"))
    assert doc.find("h1").text().startswith("reader0100@bulk.example")
    assert doc.find(id="status").text() == "active"
    assert doc.find(id="tags").text() == "usa"
    sched = " ".join(doc.find(id="schedule").text().split())
    assert sched.startswith("weekly, Monday 08:00 Europe/Berlin"), sched
    assert doc.find(id="next-due").text().strip() not in ("", "none")
    assert doc.find(id="bounce-score").text().startswith("0.0 of ")
    link = doc.find("a", id="preview-link")
    assert link is not None
    st, _, body = desk.get(link.attrs["href"])
    assert st == 200
    prev = tree(body)
    assert prev.find(id="subject") is not None
    page(desk, "/reader?email=" + q("nobody@nowhere.example"), want=404)
    page(desk, "/reader", want=400)


# ---- history ----

def test_counts_have_thousands_separators(desk):
    """The due line, This week and the home page write 5,000 as the search
    does ("5,000", not "5000"); the numbers in data- attributes stay plain.
    Before any send every reader is due: the fixture's four readers with
    posts, the bulk readers of usa (one in a hundred) and the markup-named
    reader get a digest, the others have nothing new."""
    sent = 4 + len(range(0, BULK, 100)) + 1
    doc = page(desk, "/week")
    due = doc.find("p", id="due")
    assert due.attrs["data-due"] == str(TOTAL)
    assert " ".join(due.find("strong", id="due-now").text().split()) == "5,000 readers"
    assert f"({sent} to send, {TOTAL - sent:,} with nothing new)" in due.text()
    now = doc.find("section", id="at-now")
    for id_, n in (("n-readers", TOTAL), ("n-skip", TOTAL - sent), ("n-send", sent)):
        dd = now.find("dd", id=id_)
        assert dd.attrs["data-n"] == str(n) and dd.text().strip() == f"{n:,}", (id_, dd.text())
    assert doc.find("section", id="at-slot") is None  # everyone is due now
    counts = " ".join(page(desk, "/").find("p", id="counts").text().split())
    assert counts.startswith("5,000 active readers"), counts


def test_history_after_two_sends(big_site, desk):
    root = pathlib.Path(big_site).parent
    doc = page(desk, "/history")
    before = len(doc.find("table", id="runs").find("tbody").find_all("tr")) \
        if doc.find("table", id="runs") else 0
    tdrun(big_site, "send", "--dry-run", check=True, timeout=300)
    tdrun(big_site, "send", check=True, timeout=300)
    tdrun(big_site, "send", check=True, timeout=300)
    # who gets posts, from the fixture: four of its five readers, the bulk
    # readers of usa (one in a hundred) and the markup-named reader
    sent = 4 + len(range(0, BULK, 100)) + 1
    assert len(list((root / "outbox" / "new").iterdir())) == sent

    def runs():
        d = page(desk, "/history")
        t = d.find("table", id="runs")
        rows = t.find("tbody").find_all("tr") if t else []
        return d, rows if len(rows) == before + 2 else None

    doc, rows = wait_for(lambda: (lambda r: r if r[1] else None)(runs())) or runs()
    assert rows, "the history does not show the two sends (a dry run is not recorded)"

    def cell(tr, cls):
        return " ".join(tr.find("td", **{"class": cls}).text().split())

    newest, first = rows[0], rows[1]
    assert cell(newest, "command") == cell(first, "command") == "send"
    assert cell(first, "sent") == f"{sent}"
    assert cell(first, "skipped") == f"{TOTAL - sent:,}"
    assert cell(first, "not-due") == "0"
    assert cell(newest, "sent") == "0"
    assert cell(newest, "not-due") == f"{TOTAL:,}"
    for tr in (newest, first):
        assert "interrupted" not in cell(tr, "finished")
        assert cell(tr, "failed") == "0"
    assert " ".join(doc.find(id="run-count").text().split()).startswith(f"{before + 2} runs")

    # the readers' recent digests
    def digests(addr):
        d = page(desk, "/reader?email=" + q(addr))
        t = d.find("section", id="digests").find("table")
        return [(" ".join(tr.find("td", **{"class": "outcome"}).text().split()),
                 tr.find("td", **{"class": "posts"}).text())
                for tr in t.find("tbody").find_all("tr")] if t else []

    # usa has two posts in the fixture (d.md, e.md)
    assert digests("reader0100@bulk.example") == [("sent", "2")]
    assert digests("reader0101@bulk.example") == [("skipped", "0")]


def test_history_shows_a_killed_run(tmp_path, slow_sink):
    conf = write_site(tmp_path, "smtp", smtp_url=slow_sink.url)
    tdrun(conf, "ingest", check=True)
    s = Server(conf)
    try:
        proc = subprocess.Popen([BIN, "-c", str(conf), "send"], env={**os.environ, **ENV},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # the run's row is written when the walk starts, before the
            # first message (which the sink holds for 2 s)
            def started():
                t = page(s, "/history").find("table", id="runs")
                return t and t.find("tbody").find_all("tr")
            rows = wait_for(started, timeout=20)
            assert rows, "no run recorded while the send runs"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        rows = page(s, "/history").find("table", id="runs").find("tbody").find_all("tr")
        assert len(rows) == 1
        assert rows[0].find("td", **{"class": "finished"}).text().strip() == "interrupted"
        assert "bad" in rows[0].attrs.get("class", "").split()
    finally:
        assert s.stop() == 0, s.output()


def test_refused_and_retrying_digests(tmp_path):
    """A digest refused with 5xx shows as failed, closes the reader's slot
    (not "due now" again, as `send` decides), and counts in the history;
    one that failed with 4xx shows as retrying, with its next try."""
    from conftest import Sink
    for fault, outcome in (("-f", "failed"), ("-r", "retrying")):
        root = tmp_path / outcome
        sink = Sink(fault, "RCPT")
        try:
            conf = write_site(root, "smtp", sink.url)
            tdrun(conf, "ingest", check=True)
            p = tdrun(conf, "send", timeout=120)
            assert p.returncode == (0 if outcome == "failed" else 75), p.stderr
        finally:
            sink.stop()
        s = Server(conf)
        try:
            doc = page(s, "/reader?email=" + q("zoe@example.net"))
            rows = doc.find("section", id="digests").find("tbody").find_all("tr")
            assert len(rows) == 1
            assert rows[0].find("td", **{"class": "outcome"}).text() == outcome
            detail = " ".join(rows[0].find_all("td")[-1].text().split())
            due = " ".join(doc.find(id="next-due").text().split())
            hist = page(s, "/history").find("table", id="runs").find("tbody").find_all("tr")
            assert len(hist) == 1
            failed = hist[0].find("td", **{"class": "failed"}).text().split()[0]
            tempfail = hist[0].find("td", **{"class": "tempfail"}).text()
            if outcome == "failed":
                assert "RCPT failed: 5" in detail, detail
                assert not due.startswith("due now"), due
                assert (failed, tempfail) == ("4", "0")
            else:
                assert "RCPT failed: 4" in detail and "next try" in detail, detail
                assert (failed, tempfail) == ("0", "4")
                assert "bad" in hist[0].attrs.get("class", "").split()
        finally:
            assert s.stop() == 0, s.output()

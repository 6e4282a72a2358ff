"""Issue 13: what `ingest`, `send`, `run` and `bounces` tell cron, systemd
and a person: the exit status when a source fails (while the others are
read and the digests still go out), summaries that read right (304s,
plurals, errors with the source's URL), feed validators that belong to
the URL they came from, `--json`, and one output rule: results on stdout,
diagnostics on stderr, `-q` leaves only errors.

Feeds come from a real HTTP server on loopback (conftest.http_server) that
answers 304 only to the validator it gave for that path."""
import datetime as dt
import http.server
import json
import re

import pytest

from conftest import free_port, http_server, open_store, parse, run, write_site
from test_serve import Server, html_text


def rss(title, items):
    """items: (guid, link, title, category)."""
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link>"
        f"<pubDate>Fri, 01 Dec 2017 10:00:00 +0000</pubDate>"
        f"<category>{cat}</category><guid isPermaLink=\"false\">{guid}</guid>"
        f"<description>&lt;p&gt;About {t}.&lt;/p&gt;</description></item>"
        for guid, link, t, cat in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>https://blog.test/</link>{body}"
            "</channel></rss>").encode()


class Feeds(http.server.BaseHTTPRequestHandler):
    """path -> (status, body, content type, etag); 304 only when the
    request's If-None-Match is that path's own ETag."""
    pages = {}
    seen = []      # (path, If-None-Match)

    def do_GET(self):
        inm = self.headers.get("If-None-Match")
        Feeds.seen.append((self.path, inm))
        if self.path not in Feeds.pages:
            self.send_error(404)
            return
        status, body, ctype, etag = Feeds.pages[self.path]
        if status != 200:
            self.send_error(status)
            return
        if etag and inm == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def feeds():
    Feeds.pages, Feeds.seen = {}, []
    with http_server(Feeds) as origin:
        yield origin


NATO = rss("NATO", [("n1", "https://blog.test/n1/", "Summit in Brussels", "NATO")])
USA = rss("USA", [("u1", "https://blog.test/u1/", "Tillerson in Moscow", "USA"),
                  ("u2", "https://blog.test/u2/", "Consulate closed", "USA")])


def serve(path, body=NATO, status=200, ctype="application/rss+xml", etag='"v1"'):
    Feeds.pages[path] = (status, body, ctype, etag)


def site(tmp_path, feeds, sources):
    """The conftest site (a posts folder, Maildir) plus feed sources:
    (name, path)."""
    conf = write_site(tmp_path, "maildir")
    with conf.open("a", encoding="utf-8") as f:
        for name, path in sources:
            f.write(f"[source.{name}]\ntype = feed\nurl = {feeds}{path}\n")
    return conf


def set_url(conf, name, url):
    text = conf.read_text(encoding="utf-8")
    text = re.sub(rf"(\[source\.{name}\]\ntype = feed\nurl = )\S+", rf"\g<1>{url}", text)
    conf.write_text(text, encoding="utf-8")


def titles(tmp_path):
    with open_store(tmp_path, readonly=True) as db:
        return {t for (t,) in db.execute("SELECT title FROM posts")}


def outbox(tmp_path):
    new = tmp_path / "outbox" / "new"
    return [parse(f.read_bytes()) for f in new.iterdir()] if new.exists() else []


def test_failing_source_sets_the_exit_status(tmp_path, feeds):
    """A feed that cannot be fetched (404) makes `ingest` exit 69; one
    that answers with HTML makes it 65, which wins; the error names the
    source and its URL; the other sources are read, and `run` still
    sends, exiting with the ingest's code."""
    serve("/nato/feed/")
    serve("/page/", body=b"<!DOCTYPE html><html><body>moved</body></html>",
          ctype="text/html")
    conf = site(tmp_path, feeds, [("nato", "/nato/feed/"), ("gone", "/gone/feed/")])

    p = run(conf, "ingest")
    err = p.stderr.decode()
    assert p.returncode == 69, err
    assert f"source 'gone': {feeds}/gone/feed/: HTTP 404" in err, err
    assert "Summit in Brussels" in titles(tmp_path)
    out = p.stdout.decode()
    assert "3 sources: 2 read, 0 not modified, 1 failed" in out, out

    # the same source now answers with a web page: not a feed, 65
    set_url(conf, "gone", f"{feeds}/page/")
    p = run(conf, "ingest")
    err = p.stderr.decode()
    assert p.returncode == 65, err
    assert f"source 'gone': {feeds}/page/: feed: not XML" in err or \
        f"source 'gone': {feeds}/page/: feed: not a feed" in err, err

    # both at once: 65 (a URL a person must fix) wins over 69
    with conf.open("a", encoding="utf-8") as f:
        f.write(f"[source.down]\ntype = feed\nurl = {feeds}/down/feed/\n")
    p = run(conf, "ingest")
    assert p.returncode == 65, p.stderr.decode()
    assert "source 'down'" in p.stderr.decode()

    # run: the digests still go out, and the run exits 65
    p = run(conf, "-o", "schedule.day=" + weekday_yesterday(), "run")
    assert p.returncode == 65, p.stderr.decode()
    assert len(outbox(tmp_path)) >= 1
    assert "send: " in p.stdout.decode()

    # a posts folder that is gone is this machine's problem: 66 wins
    (tmp_path / "posts").rename(tmp_path / "posts.away")
    p = run(conf, "ingest")
    assert p.returncode == 66, p.stderr.decode()
    assert f"source 'posts': {tmp_path / 'posts'}: not a folder that can be read" \
        in p.stderr.decode(), p.stderr.decode()


def weekday_yesterday():
    import datetime
    return (datetime.date.today() - datetime.timedelta(days=1)).strftime("%A").lower()


def test_not_modified_and_plurals(tmp_path, feeds):
    """Every feed answering 304 reads as "not modified", not as a failure;
    one source and one post are singular."""
    serve("/nato/feed/")
    conf = write_site(tmp_path, "maildir")
    text = conf.read_text(encoding="utf-8")
    text = re.sub(r"\[source\.posts\]\ntype = posts\npath = posts\n", "", text)
    conf.write_text(text + f"[source.nato]\ntype = feed\nurl = {feeds}/nato/feed/\n")

    p = run(conf, "ingest", check=True)
    out = p.stdout.decode()
    assert out.startswith("ingest: 1 source: 1 read, 0 not modified, 0 failed; "
                          "1 post read: 1 new,"), out
    assert "bad" not in out, out          # no feed item was bad; no posts folder

    p = run(conf, "ingest", check=True)
    out = p.stdout.decode()
    assert out.startswith("ingest: 1 source: 0 read, 1 not modified, 0 failed; "
                          "0 posts read"), out
    assert "not modified" in out and "nothing new since the last fetch" in out, out
    assert Feeds.seen[-1] == ("/nato/feed/", '"v1"')


def test_changed_url_does_not_reuse_validators(tmp_path, feeds):
    """The source's url changes to another feed whose server hands out the
    same ETag: the old URL's validator must not be sent to it, or it
    answers 304 and the new feed's posts are never read."""
    serve("/nato/feed/", body=NATO, etag='"v1"')
    serve("/usa/feed/", body=USA, etag='"v1"')
    conf = site(tmp_path, feeds, [("news", "/nato/feed/")])
    run(conf, "ingest", check=True)
    assert Feeds.seen == [("/nato/feed/", None)]

    set_url(conf, "news", f"{feeds}/usa/feed/")
    p = run(conf, "ingest", check=True)
    assert Feeds.seen[-1] == ("/usa/feed/", None), Feeds.seen
    assert {"Tillerson in Moscow", "Consulate closed"} <= titles(tmp_path)
    assert "2 new" in p.stdout.decode(), p.stdout.decode()

    # the new URL's own validator is kept and sent to it
    p = run(conf, "ingest", check=True)
    assert Feeds.seen[-1] == ("/usa/feed/", '"v1"')
    assert "1 not modified" in p.stdout.decode()


def test_status_says_when_the_last_error_was(tmp_path, feeds):
    """`status` gives the last error its time; once the source works
    again the error is shown as over ("ok since")."""
    serve("/nato/feed/", status=500)
    conf = site(tmp_path, feeds, [("nato", "/nato/feed/")])
    assert run(conf, "ingest").returncode == 69

    def line():
        st = run(conf, "status", check=True).stdout.decode()
        return [ln for ln in st.splitlines() if ln.strip().startswith("nato ")][0]

    def source_json():
        doc = json.loads(run(conf, "status", "--json", check=True).stdout)
        [src] = [s for s in doc["sources"] if s["name"] == "nato"]
        return src

    def utc(stamp):
        return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.timezone.utc)

    ln = line()
    assert re.search(r"consecutive failures: 1; last error \w{3} \d\d \w{3} \d{4} "
                     r"\d\d:\d\d \S+: " + re.escape(f"{feeds}/nato/feed/: HTTP 500"), ln), ln
    failing = source_json()
    # the JSON says what the line says: failing now, since when, no "ok since"
    assert failing["consecutive_failures"] == 1, failing
    assert failing["last_error"].endswith("HTTP 500 Internal Server Error"), failing
    assert failing["ok_since"] is None, failing
    failed_at = utc(failing["last_error_at"])
    desk = Server(conf)
    try:
        page = html_text(desk.get("/")[2])
    finally:
        desk.stop()
    row = re.search(r"<tr class=\"bad\"><td>nato</td>.*?</tr>", page)
    assert row and re.search(r"<td>\w{3} \d\d \w{3} \d{4} \d\d:\d\d \S+: " +
                             re.escape(f"{feeds}/nato/feed/: HTTP 500"), row.group(0)), page

    serve("/nato/feed/")
    run(conf, "ingest", check=True)
    desk = Server(conf)
    try:
        page = html_text(desk.get("/")[2])
    finally:
        desk.stop()
    row = re.search(r"<tr class=\"good\"><td>nato</td>.*?</tr>", page)
    assert row and re.search(r"ok since \w{3} \d\d .*; last error \w{3} \d\d .*HTTP 500",
                             row.group(0)), page
    again = source_json()
    assert again["consecutive_failures"] == 0, again
    assert again["last_error_at"] == failing["last_error_at"], again
    # over since the first success after it: not before the error, not
    # in the future
    assert again["ok_since"] is not None, again
    assert failed_at <= utc(again["ok_since"]) <= dt.datetime.now(dt.timezone.utc), again
    ln = line()
    assert re.search(r"consecutive failures: 0; ok since \w{3} \d\d \w{3} \d{4} \d\d:\d\d "
                     r"\S+ \(last error \w{3} \d\d .*HTTP 500 Internal Server Error\)", ln), ln


def out_err(p):
    return p.stdout.decode(), p.stderr.decode()


def test_output_rule(tmp_path, feeds):
    """Results on stdout, diagnostics on stderr, -q leaves only errors:
    for ingest, send, run and bounces."""
    conf = write_site(tmp_path, "maildir")
    box = tmp_path / "bounces"
    for d in ("new", "cur", "tmp"):
        (box / d).mkdir(parents=True)
    # one mail that is no bounce (it stays): an empty Maildir trips a
    # UBSan report in mailbox.c's qsort (reported, not this test's subject)
    (box / "new" / "1.reply").write_bytes(
        b"From: a@example.org\r\nTo: digest@news.test\r\nSubject: thanks\r\n"
        b"Message-ID: <r1@example.org>\r\n\r\nThanks for the digest.\r\n")
    mailbox = ("-o", f"bounces.mailbox=maildir:{box}")

    out, err = out_err(run(conf, "ingest", check=True))
    assert out.startswith("ingest: 1 source: 1 read,") and out.count("\n") == 1, out
    assert err == "", err
    out, err = out_err(run(conf, "-q", "ingest", check=True))
    assert (out, err) == ("", "")

    out, err = out_err(run(conf, "-q", "send", "--dry-run", check=True))
    assert out == "", out
    out, err = out_err(run(conf, "send", "--dry-run", check=True))
    assert out.startswith("send --dry-run: ") and out.count("\n") == 1, out

    out, err = out_err(run(conf, *mailbox, "bounces", check=True))
    assert out.startswith("bounces: 1 mail read") and out.count("\n") == 1, out
    out, err = out_err(run(conf, *mailbox, "-q", "bounces", check=True))
    assert (out, err) == ("", "")

    # run: the ingest's, the bounces' and the send's lines, all on stdout,
    # as the commands alone print them
    out, err = out_err(run(conf, *mailbox, "run", check=True))
    lines = out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["ingest", "bounces", "send"], out
    assert "ingest:" not in err and "bounces:" not in err, err
    out, err = out_err(run(conf, *mailbox, "-q", "run", check=True))
    assert (out, err) == ("", "")

    # the editors' commands: their summary is a result too
    p = run(conf, "subscribers", "add", "new@example.org", "--tags", "nato", check=True)
    assert p.stdout.decode().startswith("subscribers add: new@example.org added")
    for args in (("subscribers", "add", "new2@example.org", "--tags", "nato"),
                 ("subscribers", "remove", "new2@example.org"),
                 ("unsuppress", "new2@example.org")):
        out, err = out_err(run(conf, "-q", *args, check=True))
        assert (out, err) == ("", ""), args

    # a failing source under -q: only its error, on stderr
    with conf.open("a", encoding="utf-8") as f:
        f.write(f"[source.gone]\ntype = feed\nurl = {feeds}/gone/\n")
    p = run(conf, "-q", "run")
    out, err = out_err(p)
    assert p.returncode == 69 and out == "", out
    assert err.strip().splitlines() == [
        f"tagdigest: ingest: source 'gone': {feeds}/gone/: HTTP 404 Not Found"], err


def test_json(tmp_path, feeds):
    """`ingest --json`, `send --dry-run --json` ("would send", no rate) and
    `run --json` (one document)."""
    serve("/nato/feed/")
    conf = site(tmp_path, feeds, [("nato", "/nato/feed/"), ("gone", "/gone/")])
    p = run(conf, "ingest", "--json")
    assert p.returncode == 69
    d = json.loads(p.stdout)
    by = {s["name"]: s for s in d["sources"]}
    assert by["posts"]["type"] == "posts" and by["posts"]["path"] == str(tmp_path / "posts")
    assert by["posts"]["outcome"] == "ok" and by["posts"]["posts"]["new"] == 6
    assert by["nato"]["url"] == f"{feeds}/nato/feed/" and by["nato"]["error"] is None
    assert by["gone"]["outcome"] == "failed" and by["gone"]["exit"] == 69
    assert by["gone"]["error"] == f"{feeds}/gone/: HTTP 404 Not Found"
    assert d["totals"]["sources"] == 3 and d["totals"]["failed"] == 1
    assert d["totals"]["posts"]["new"] == 7 and d["exit"] == 69
    p = run(conf, "ingest", "--json")
    d = json.loads(p.stdout)
    assert {s["name"]: s["outcome"] for s in d["sources"]} == {
        "posts": "ok", "nato": "not modified", "gone": "failed"}

    p = run(conf, "send", "--dry-run", "--json", check=True)
    d = json.loads(p.stdout)
    assert d["dry_run"] is True and d["would_send"] >= 1, d
    assert "sent" not in d and "messages_per_second" not in d, d
    p = run(conf, "send", "--dry-run", check=True)
    assert "would be sent" in p.stdout.decode() and "messages/s" not in p.stdout.decode()

    p = run(conf, "run", "--json")
    assert p.returncode == 69
    d = json.loads(p.stdout)          # one document, nothing else on stdout
    assert set(d) == {"ingest", "send", "exit"} and d["exit"] == 69, d
    assert d["ingest"]["totals"]["failed"] == 1
    assert d["send"]["dry_run"] is False and "sent" in d["send"]


def test_run_source_failure_wins_over_send_75(tmp_path, feeds):
    """The relay is down (the send exits 75, which units treat as
    success): a failed source must still show, so run exits 69; a site
    whose sources are fine exits the send's 75."""
    relay = f"smtp://127.0.0.1:{free_port()}"
    fine = write_site(tmp_path / "fine", "smtp", smtp_url=relay)
    p = run(fine, "run", "--json", timeout=120)
    assert p.returncode == 75, p.stderr.decode()
    assert json.loads(p.stdout)["send"]["exit"] == 75

    failing = write_site(tmp_path / "failing", "smtp", smtp_url=relay)
    with failing.open("a", encoding="utf-8") as f:
        f.write(f"[source.gone]\ntype = feed\nurl = {feeds}/gone/\n")
    p = run(failing, "run", "--json", timeout=120)
    assert p.returncode == 69, p.stderr.decode()
    d = json.loads(p.stdout)
    assert (d["exit"], d["ingest"]["exit"], d["send"]["exit"]) == (69, 69, 75), d


def test_feed_dump_names_the_file_or_url_that_is_not_xml(tmp_path, feeds):
    """`feed-dump` of something that is not XML says which file or URL,
    as `ingest` names the source's URL."""
    conf = tmp_path / "none.conf"           # feed-dump needs no config
    notes = tmp_path / "notes.txt"
    notes.write_text("just some text, no markup at all\n", encoding="utf-8")
    p = run(conf, "feed-dump", str(notes))
    assert p.returncode == 65, p.stderr
    assert f"tagdigest: feed-dump: {notes}: feed: not XML" in p.stderr.decode(), p.stderr
    assert p.stdout == b""
    serve("/notes/", body=notes.read_bytes(), ctype="text/plain")
    p = run(conf, "feed-dump", f"{feeds}/notes/")
    assert p.returncode == 65, p.stderr
    assert f"tagdigest: feed-dump: {feeds}/notes/: feed: not XML" in p.stderr.decode(), \
        p.stderr

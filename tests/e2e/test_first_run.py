"""A site's first run, end to end: starting clean (`run --no-send`, `send
--no-send`, `subscribers import --start-clean`), what comes after it (the
first digests of readers who started clean, and of readers who join
later), and the first digest's date range.

The runs use the real clock, as test_reader_schedule.py's do: the site's
slot is 12:00 UTC two days back (its site()), and "a later slot" is the
site's slot moved to a minute ago with -o, which is later than any slot
recorded before. Mail goes into the Maildir and is parsed with Python's
email package (policy.default, defects checked: conftest.parse). What the
store holds is read with SQL, read-only. Counts are read from `--json`
(json.loads); one check per summary reads the text line.
"""
import http.server
import json
import os
import re
import urllib.parse
from datetime import date, datetime, timedelta, timezone

from conftest import (BACKEND, SUBSCRIBERS, free_port, http_server, open_store, parse, run,
                      store_dump)
from test_reader_schedule import USA, add_post, query, site, site_slot, status_line

UTC = timezone.utc
NATO2 = ("n2.md", "NATO summit, second day", ["NATO"], "https://news.test/p/n/")
USA2 = ("u2.md", "Washington answers", ["USA"], "https://news.test/p/w/")
READERS = [addr for addr, _, _ in SUBSCRIBERS]


def mails(tmp_path, seen):
    """{recipient: text part} of the Maildir messages that arrived since
    `seen` (updated), each parsed strictly."""
    new_dir = tmp_path / "outbox" / "new"
    got = {}
    names = sorted(set(os.listdir(new_dir)) - seen) if new_dir.is_dir() else []
    for name in names:
        seen.add(name)
        msg = parse((new_dir / name).read_bytes())
        to = msg["To"].addresses[0].addr_spec
        assert to not in got, f"two digests for {to} in one run"
        got[to] = msg
    return got


def urls(msg):
    return set(re.findall(r"https://news\.test/p/[a-z0-9]+/",
                          msg.get_body(("plain",)).get_content()))


def parts(msg):
    """The text and the HTML part's content."""
    return (msg.get_body(("plain",)).get_content(),
            msg.get_body(("html",)).get_content())


def later_slot():
    """-o options that put the site's slot a minute ago: later than every
    slot recorded so far in these tests."""
    t = datetime.now(UTC) - timedelta(minutes=1)
    return ["-o", f"schedule.day={t.strftime('%A').lower()}",
            "-o", f"schedule.time={t.strftime('%H:%M')}", "-o", "schedule.timezone=UTC"]


def counter(tmp_path):
    """The store's counter (store.h: td_store_max_seq): SQLite's
    AUTOINCREMENT sequence, PostgreSQL's counters row."""
    ((seq,),) = query(tmp_path, "SELECT value FROM counters WHERE name = 'posts'"
                      if BACKEND == "postgres" else
                      "SELECT seq FROM sqlite_sequence WHERE name = 'posts'")
    return seq


# ---- a new site ---------------------------------------------------------------

def test_new_site_starts_clean_and_then_gets_only_what_arrives(tmp_path):
    """`run --no-send` on a new site: ingest and sync, then every reader
    starts clean (no mail, no delivery); the same period's cron run sends
    nothing; at the next slot each reader gets only the post that arrived
    after, and `status` calls the start a start, not a digest."""
    conf = site(tmp_path)
    start = datetime.now(UTC)
    p = run(conf, "run", "--no-send", "--json", check=True)
    doc = json.loads(p.stdout)
    assert doc["exit"] == 0 and doc["ingest"]["exit"] == 0, doc
    began = doc["send"]
    assert began["no_send"] and not began["dry_run"], began
    assert (began["readers"], began["started_clean"], began["left_alone"],
            began["exit"]) == (len(READERS), len(READERS), 0, 0), began
    seen = set()
    assert mails(tmp_path, seen) == {}
    assert query(tmp_path, "SELECT COUNT(*) FROM deliveries") == [(0,)]
    seq = counter(tmp_path)
    assert seq >= 6 and began["upto_seq"] == seq
    # the run history (store/runs.h) has the start, finished, with its readers
    ((command, subscribers, sent, skipped, exit_code, finished, note),) = query(
        tmp_path, "SELECT command, subscribers, sent, skipped, exit_code,"
        " finished_at IS NOT NULL, note FROM runs")
    assert (command, subscribers, sent, skipped, exit_code, finished) == (
        "run --no-send", len(READERS), 0, 0, 0, 1)
    assert note.startswith(f"started clean: {len(READERS)} readers"), note
    # again: harmless, and the text line says so
    p = run(conf, "send", "--no-send", check=True)
    out = p.stdout.decode()
    assert out.startswith("send --no-send: 0 readers started clean (what the store "
                          f"holds, up to seq {seq}, counts as seen;"), out
    assert f"), {len(READERS)} left alone (a digest or a start of theirs is " \
        "recorded already); nothing sent\n" in out, out
    rows = query(tmp_path, "SELECT email, watermark, last_slot, last_sent_at"
                 " FROM subscriber_state ORDER BY email")
    slots = {site_slot(start), site_slot(datetime.now(UTC))}
    assert sorted(r[0] for r in rows) == sorted(READERS)
    for email, watermark, last_slot, last_sent_at in rows:
        assert watermark == seq and last_slot in slots and last_sent_at == 0, email

    # cron in the same period: nothing for anyone, and nobody is said to
    # have a digest already: they started clean
    p = run(conf, "run", "--json", check=True)
    sent = json.loads(p.stdout)["send"]
    assert (sent["sent"], sent["skipped"], sent["not_due"], sent["started_clean"]) == (
        0, 0, len(READERS), len(READERS)), sent
    p = run(conf, "send", check=True)
    out = p.stdout.decode()
    n = len(READERS)
    assert f"send: nothing new to send: {n} of {n} readers started clean, first " \
        "digest at their next slot; next site slot" in out, out
    assert "already have" not in out, out
    assert mails(tmp_path, seen) == {}
    line = status_line(conf, "zoe@example.net")
    assert "started clean " + start.strftime("%Y-%m-%d") in line or \
        "started clean " + datetime.now(UTC).strftime("%Y-%m-%d") in line, line

    # a post arrives; at the next slot its readers get it and nothing else
    add_post(tmp_path, *USA)
    run(conf, "ingest", check=True)
    p = run(conf, *later_slot(), "send", check=True)
    got = mails(tmp_path, seen)
    usa_readers = {a for a, _, tags in SUBSCRIBERS if "usa" in tags}
    assert set(got) == usa_readers, p.stdout.decode()
    for to, msg in got.items():
        assert urls(msg) == {USA[3]}, (to, urls(msg))
        # their first digest: not "since your last digest" (they had none)
        for part in (" ".join(x.split()) for x in parts(msg)):   # unwrapped
            assert "since your last digest" not in part, (to, part)
            assert "Here is your first digest: what arrived in your tags since " \
                "you started." in part, (to, part)
    assert query(tmp_path, "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'") == [
        (len(usa_readers),)]
    # the start is history now: `status` shows the digest
    assert "started clean" not in status_line(conf, "zoe@example.net")


def test_desk_does_not_call_a_start_a_digest(tmp_path):
    """The desk after `run --no-send`: the home page counts no digest (none
    sent, none skipped) and each reader's row says "started clean"; a
    reader's page says when they started; the history shows the start."""
    from test_serve import Server
    conf = site(tmp_path)
    run(conf, "run", "--no-send", check=True)
    srv = Server(conf)
    try:
        status, _, body = srv.get("/")
        r_status, _, r_body = srv.get("/reader?email=" + urllib.parse.quote(
            "zoe@example.net"))
        h_status, _, h_body = srv.get("/history")
    finally:
        assert srv.stop() == 0, srv.output()
    page = body.decode()
    assert status == 200
    assert "No digest has been sent or skipped yet." in page, page
    assert "All time: 0 sent, 0 skipped." in page, page
    rows = re.findall(r"<tr><td><a href=\"/preview\?to=[^\"]+\">([^<]+)</a>.*?</tr>", page)
    assert sorted(rows) == sorted(READERS), rows
    assert page.count("<td>started clean ") == len(READERS), page

    reader = r_body.decode()
    assert r_status == 200
    assert re.search(r'<dd id="started-clean">Started clean \w{3} \d\d \w{3} \d{4} \d\d:\d\d',
                     reader), reader
    history = h_body.decode()
    assert h_status == 200
    cells = re.findall(r'<td class="command">([^<]*)</td>', history)
    assert cells == ["run --no-send"], history
    assert f"started clean: {len(READERS)} readers" in history, history


def test_readers_with_history_are_left_alone(tmp_path):
    """`send --no-send` on a live site: the readers who had digests keep
    the posts waiting for them; a reader added since starts clean and gets
    only what arrives after the start; so does a new reader who is paused
    (their pause ends in a later slot)."""
    conf = site(tmp_path)
    run(conf, "run", check=True)               # first digests (or skips) for all
    seen = set()
    assert "zoe@example.net" in mails(tmp_path, seen)
    add_post(tmp_path, *USA)                   # waits for the USA readers
    run(conf, "ingest", check=True)
    run(conf, "subscribers", "add", "new@example.org", "--tags", "usa", check=True)
    run(conf, "subscribers", "add", "paused@example.org", "--tags", "usa", check=True)
    with open_store(tmp_path) as db:       # what the preference centre's pause stores
        db.execute("UPDATE members SET paused_until = ? WHERE email_key = ?",
                   (int(datetime.now(UTC).timestamp()) + 3600, "paused@example.org"))
    before = query(tmp_path, "SELECT email, watermark, last_slot, last_sent_at"
                   " FROM subscriber_state ORDER BY email")

    p = run(conf, "send", "--no-send", "--json", check=True)
    doc = json.loads(p.stdout)
    assert (doc["started_clean"], doc["left_alone"], doc["exit"]) == (2, len(READERS), 0), doc
    after = query(tmp_path, "SELECT email, watermark, last_slot, last_sent_at"
                  " FROM subscriber_state WHERE email NOT IN ('new@example.org',"
                  " 'paused@example.org') ORDER BY email")
    assert after == before
    assert query(tmp_path, "SELECT watermark FROM subscriber_state WHERE email = ?",
                 "paused@example.org") == [(counter(tmp_path),)]
    assert mails(tmp_path, seen) == {}

    add_post(tmp_path, *USA2)                  # after the start
    run(conf, "ingest", check=True)
    p = run(conf, *later_slot(), "send", check=True)
    got = mails(tmp_path, seen)
    usa_readers = {a for a, _, tags in SUBSCRIBERS if "usa" in tags}
    assert set(got) == usa_readers | {"new@example.org"}, p.stdout.decode()
    for to in usa_readers:
        assert urls(got[to]) == {USA[3], USA2[3]}, (to, urls(got[to]))
    assert urls(got["new@example.org"]) == {USA2[3]}


def test_import_start_clean(tmp_path):
    """`subscribers import FILE --start-clean`: the file's new readers start
    clean at once (`subscribers show` and `status` say so, no delivery);
    a reader of the file who had digests is left alone."""
    conf = site(tmp_path)
    run(conf, "run", check=True)
    seen = set()
    mails(tmp_path, seen)
    imported = tmp_path / "import.csv"
    imported.write_text("email,name,tags\n"
                        "imp@example.org,Imported Reader,usa;nato\n"
                        "zoe@example.net,Zoë O'Brien,nato;usa\n", encoding="utf-8")
    p = run(conf, "subscribers", "import", str(imported), "--start-clean", check=True)
    out = p.stdout.decode()
    assert "1 added" in out, out
    assert "1 reader started clean" in out and "1 left alone" in out, out
    assert query(tmp_path, "SELECT COUNT(*) FROM deliveries WHERE email = ?",
                 "imp@example.org") == [(0,)]
    assert query(tmp_path, "SELECT watermark FROM subscriber_state WHERE email = ?",
                 "imp@example.org") == [(counter(tmp_path),)]

    show = run(conf, "subscribers", "show", "imp@example.org", check=True).stdout.decode()
    assert re.search(r"^  started: +clean at \d{4}-\d\d-\d\d \d\d:\d\d", show, re.M), show
    assert "recent digests: none" in show, show
    shown = json.loads(run(conf, "subscribers", "show", "imp@example.org", "--json",
                           check=True).stdout)
    assert shown["started_clean"] and shown["recent_digests"] == []
    zoe = json.loads(run(conf, "subscribers", "show", "zoe@example.net", "--json",
                         check=True).stdout)
    assert zoe["started_clean"] is None and zoe["recent_digests"]
    assert "started clean" in status_line(conf, "imp@example.org")

    # the same period: nothing; the next slot: only what arrived since
    p = run(conf, "send", check=True)
    assert mails(tmp_path, seen) == {}, p.stdout.decode()
    add_post(tmp_path, *NATO2)
    run(conf, "ingest", check=True)
    run(conf, *later_slot(), "send", check=True)
    got = mails(tmp_path, seen)
    assert urls(got["imp@example.org"]) == {NATO2[3]}


def test_dry_run_writes_nothing(tmp_path):
    """--no-send with --dry-run (send, run, import): says how many would
    start clean, writes nothing, sends nothing; the real run then starts
    that many."""
    conf = site(tmp_path)
    run(conf, "ingest", check=True)            # a dry run needs a store
    run(conf, "subscribers", "add", "cli@example.org", "--tags", "usa", check=True)
    before = store_dump(tmp_path)
    n = len(READERS) + 1                        # the file's rows, not synced yet

    p = run(conf, "send", "--no-send", "--dry-run", check=True)
    out = p.stdout.decode()
    assert f"send --no-send --dry-run: {n} readers would start clean" in out, out
    assert "nothing written" in out, out
    p = run(conf, "run", "--no-send", "--dry-run", "--json", check=True)
    doc = json.loads(p.stdout)
    assert doc["ingest"] is None and doc["exit"] == 0, doc    # a dry run reads no source
    doc = doc["send"]
    assert doc["dry_run"] and doc["no_send"] and doc["started_clean"] == n
    assert doc["left_alone"] == 0
    assert "no ingest" in p.stderr.decode(), p.stderr.decode()
    imported = tmp_path / "import.csv"
    imported.write_text("email,name,tags\nimp@example.org,,usa\n", encoding="utf-8")
    p = run(conf, "subscribers", "import", str(imported), "--start-clean", "--dry-run",
            check=True)
    assert "1 reader would start clean" in p.stdout.decode(), p.stdout.decode()
    # run's --dry-run only goes with --no-send
    p = run(conf, "run", "--dry-run")
    assert p.returncode == 64 and "--no-send" in p.stderr.decode()

    assert store_dump(tmp_path) == before
    assert not (tmp_path / "outbox" / "new").exists() or \
        not os.listdir(tmp_path / "outbox" / "new")
    p = run(conf, "send", "--no-send", "--json", check=True)
    assert json.loads(p.stdout)["started_clean"] == n


# ---- a source down at the start ----------------------------------------------

# Two NATO stories of January 2012: the archive of a source that was down
# when the site started.
WIRE_FEED = ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
             "<title>Wire</title><link>https://news.test/</link>" + "".join(
                 f"<item><title>Old wire story {c}</title>"
                 f"<link>https://news.test/p/wire{c.lower()}/</link>"
                 f"<pubDate>{day} Jan 2012 10:00:00 +0000</pubDate>"
                 f"<category>NATO</category><guid>https://news.test/p/wire{c.lower()}/</guid>"
                 "</item>" for c, day in (("A", "Tue, 03"), ("B", "Wed, 04")))
             + "</channel></rss>").encode()


class Wire(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/feed.xml":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(WIRE_FEED)))
        self.end_headers()
        self.wfile.write(WIRE_FEED)

    def log_message(self, *args):
        pass


def test_no_send_starts_nobody_while_a_source_fails(tmp_path):
    """`run --no-send` with a feed that is down: nobody starts (a start
    would count that feed's archive as news when it comes back), nothing
    is written for the readers, the exit is the ingest's 69 and stderr
    says what to do. Once the feed is up, the same command starts
    everyone, and the feed's 2012 stories never reach a digest."""
    port = free_port()
    conf = site(tmp_path)
    with open(conf, "a", encoding="utf-8") as f:
        f.write(f"[source.wire]\ntype = feed\nurl = http://127.0.0.1:{port}/feed.xml\n")

    p = run(conf, "run", "--no-send")           # the wire is down
    assert p.returncode == 69, (p.stdout, p.stderr)
    assert "tagdigest: run --no-send: nothing started: source wire failed; fix it and " \
        "run `tagdigest run --no-send` again" in p.stderr.decode(), p.stderr.decode()
    assert "started clean" not in p.stdout.decode(), p.stdout.decode()
    p = run(conf, "run", "--no-send", "--json")
    assert p.returncode == 69
    doc = json.loads(p.stdout)
    assert doc["exit"] == 69 and doc["send"] is None, doc
    assert [s["name"] for s in doc["ingest"]["sources"] if s["outcome"] == "failed"] == [
        "wire"], doc
    for table in ("clean_starts", "subscriber_state", "deliveries", "runs"):
        assert query(tmp_path, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    assert not (tmp_path / "outbox" / "new").exists() or \
        not os.listdir(tmp_path / "outbox" / "new")

    with http_server(Wire, port=port):
        p = run(conf, "run", "--no-send", "--json", check=True)
        doc = json.loads(p.stdout)
        assert doc["exit"] == 0 and doc["ingest"]["totals"]["failed"] == 0, doc
        assert doc["send"]["started_clean"] == len(READERS), doc
        # a post arrives: at the next slot its readers get it, and only it
        add_post(tmp_path, *NATO2)
        run(conf, "ingest", check=True)
        p = run(conf, *later_slot(), "send", check=True)
    got = mails(tmp_path, set())
    nato_readers = {a for a, _, tags in SUBSCRIBERS if "nato" in tags}
    assert set(got) == nato_readers, p.stdout.decode()
    for to, msg in got.items():
        assert urls(msg) == {NATO2[3]}, (to, urls(msg))


# ---- readers who join after a clean start -----------------------------------

def test_readers_who_join_after_a_start_do_not_get_the_archive(tmp_path):
    """After `run --no-send`, what the store held is the site's archive for
    a reader who joins later too: one added to the file that week gets
    nothing at the next run (their first digest is empty), one added
    when a post has arrived gets that post alone, with the welcome."""
    conf = site(tmp_path)
    run(conf, "run", "--no-send", check=True)
    subscribers = tmp_path / "subscribers.csv"
    with open(subscribers, "a", encoding="utf-8") as f:
        f.write("new.reader@example.org,New Reader,nato;usa\n")
    p = run(conf, "run", "--json", check=True)
    doc = json.loads(p.stdout)["send"]
    assert (doc["sent"], doc["skipped"], doc["not_due"], doc["started_clean"]) == (
        0, 1, len(READERS), len(READERS)), doc
    seen = set()
    assert mails(tmp_path, seen) == {}

    with open(subscribers, "a", encoding="utf-8") as f:
        f.write("later.reader@example.org,Later Reader,nato\n")
    add_post(tmp_path, *NATO2)
    p = run(conf, "run", "--json", check=True)
    assert json.loads(p.stdout)["send"]["sent"] == 1, p.stdout
    got = mails(tmp_path, seen)
    assert set(got) == {"later.reader@example.org"}, got
    msg = got["later.reader@example.org"]
    assert urls(msg) == {NATO2[3]}, urls(msg)
    for part in (" ".join(x.split()) for x in parts(msg)):   # unwrapped
        assert "elcome! Here is what arrived in your tags recently." in part, part

    # the reader added first gets it at their next slot, and nothing else
    run(conf, *later_slot(), "send", check=True)
    got = mails(tmp_path, seen)
    assert urls(got["new.reader@example.org"]) == {NATO2[3]}


# ---- the first digest's date range ------------------------------------------

def dated_site(tmp_path, dates):
    """site() with each fixture post dated as `dates` says ({file: date})."""
    conf = site(tmp_path)
    for fname, day in dates.items():
        post = tmp_path / "posts" / fname
        text = re.sub(r"^date: .*$", f"date: {day.isoformat()}T10:00:00Z",
                      post.read_text(encoding="utf-8"), count=1, flags=re.M)
        post.write_text(text, encoding="utf-8")
    return conf


def header_range(msg):
    """The dates on the text part's second line, "SINCE to UNTIL", or
    "DAY" alone (since and until both DAY)."""
    line = msg.get_body(("plain",)).get_content().splitlines()[1]
    since, _, until = line.partition(" to ")
    return (datetime.strptime(since, "%d %B %Y").date(),
            datetime.strptime(until or since, "%d %B %Y").date())


def html_header(msg):
    """The HTML part's line under the site's name, after "Weekly digest · "."""
    html = msg.get_body(("html",)).get_content()
    found = re.findall(r"Weekly digest &middot; ([^<]*)</div>", html)
    assert len(found) == 1, html
    return found[0]


def long_date(d):
    return d.strftime("%d %B %Y").lstrip("0")


def test_first_digest_range_is_the_posts_dates(tmp_path):
    """A new site's first digests (no --no-send) hold posts from 2017: the
    header's range runs from the oldest post shown to the newest, in both
    parts; a later digest keeps "last slot to today"."""
    from conftest import POSTS
    dates = {p[0]: d for p, d in zip(POSTS, [date(2017, 6, 27), date(2017, 7, 8),
                                             date(2017, 10, 20), date(2017, 8, 1),
                                             date(2017, 9, 2), date(2017, 12, 22)])}
    by_url = {p[3]: dates[p[0]] for p in POSTS}
    conf = dated_site(tmp_path, dates)
    run(conf, "run", check=True)
    seen = set()
    got = mails(tmp_path, seen)
    assert {"zoe@example.net", "li@example.com", "juergen@example.org"} <= set(got)
    for to, msg in got.items():
        shown = [by_url[u] for u in urls(msg)]
        assert shown, to
        assert header_range(msg) == (min(shown), max(shown)), (to, header_range(msg))
        want = long_date(min(shown)) if min(shown) == max(shown) else \
            f"{long_date(min(shown))} to {long_date(max(shown))}"
        assert html_header(msg) == want, to

    # a later digest, even of a post dated 2017: since the last slot, to today
    slot = query(tmp_path, "SELECT last_slot FROM subscriber_state WHERE email = ?",
                 "zoe@example.net")[0][0]
    add_post(tmp_path, *USA)                   # dated 2026-11-27
    run(conf, "ingest", check=True)
    before = datetime.now(UTC).date()
    run(conf, *later_slot(), "send", check=True)
    after = datetime.now(UTC).date()
    later = mails(tmp_path, seen)["zoe@example.net"]
    since, until = header_range(later)
    assert since == datetime.fromtimestamp(slot, UTC).date()
    assert until in (before, after)


def test_first_digest_of_one_day_shows_one_date(tmp_path):
    """A first digest whose posts all carry one day's date (one post, or
    three of 20 October 2017) shows that date once, in both parts, not
    "20 October 2017 to 20 October 2017"; one whose posts span days keeps
    "SINCE to UNTIL"."""
    day = date(2017, 10, 20)
    conf = dated_site(tmp_path, {"a.md": day, "b.md": day, "d.md": day,
                                 "c.md": date(2017, 6, 27), "e.md": date(2017, 8, 1),
                                 "f.md": date(2017, 9, 2)})
    run(conf, "run", check=True)
    got = mails(tmp_path, set())
    # Sergey Lavrov: a, b and d; EU: a alone
    for to, n in (("juergen@example.org", 3), ("plain@example.org", 1)):
        msg = got[to]
        assert len(urls(msg)) == n, (to, urls(msg))
        assert msg.get_body(("plain",)).get_content().splitlines()[1] == "20 October 2017"
        assert html_header(msg) == "20 October 2017", to
    # NATO and USA: b and d of 20 October, e of 1 August
    assert html_header(got["zoe@example.net"]) == "1 August 2017 to 20 October 2017"
    assert header_range(got["zoe@example.net"]) == (date(2017, 8, 1), day)

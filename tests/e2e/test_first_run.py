"""A site's first run, end to end: starting clean (`run --no-send`, `send
--no-send`, `subscribers import --start-clean`) and the first digest's
date range.

The runs use the real clock, as test_reader_schedule.py's do: the site's
slot is 12:00 UTC two days back (its site()), and "a later slot" is the
site's slot moved to a minute ago with -o, which is later than any slot
recorded before. Mail goes into the Maildir and is parsed with Python's
email package (policy.default, defects checked: conftest.parse). What the
store holds is read with SQL, read-only.
"""
import json
import os
import re
import sqlite3
from datetime import date, datetime, timedelta, timezone

from conftest import SUBSCRIBERS, parse, run
from test_reader_schedule import USA, add_post, db_path, query, site, site_slot, status_line

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
    return set(re.findall(r"https://news\.test/p/[a-z]+/",
                          msg.get_body(("plain",)).get_content()))


def later_slot():
    """-o options that put the site's slot a minute ago: later than every
    slot recorded so far in these tests."""
    t = datetime.now(UTC) - timedelta(minutes=1)
    return ["-o", f"schedule.day={t.strftime('%A').lower()}",
            "-o", f"schedule.time={t.strftime('%H:%M')}", "-o", "schedule.timezone=UTC"]


def counter(tmp_path):
    """The store's counter (store.h: td_store_max_seq)."""
    ((seq,),) = query(tmp_path, "SELECT seq FROM sqlite_sequence WHERE name = 'posts'")
    return seq


def store_dump(tmp_path):
    db = sqlite3.connect(f"file:{db_path(tmp_path)}?mode=ro", uri=True)
    try:
        return list(db.iterdump())
    finally:
        db.close()


# ---- a new site ---------------------------------------------------------------

def test_new_site_starts_clean_and_then_gets_only_what_arrives(tmp_path):
    """`run --no-send` on a new site: ingest and sync, then every reader
    starts clean (no mail, no delivery); the same period's cron run sends
    nothing; at the next slot each reader gets only the post that arrived
    after, and `status` calls the start a start, not a digest."""
    conf = site(tmp_path)
    start = datetime.now(UTC)
    p = run(conf, "run", "--no-send", check=True)
    out = p.stdout.decode()
    assert f"run --no-send: {len(READERS)} readers started clean" in out, out
    assert "0 left alone" in out and "nothing sent" in out, out
    seen = set()
    assert mails(tmp_path, seen) == {}
    assert query(tmp_path, "SELECT COUNT(*) FROM deliveries") == [(0,)]
    seq = counter(tmp_path)
    assert seq >= 6
    rows = query(tmp_path, "SELECT email, watermark, last_slot, last_sent_at"
                 " FROM subscriber_state ORDER BY email")
    slots = {site_slot(start), site_slot(datetime.now(UTC))}
    assert sorted(r[0] for r in rows) == sorted(READERS)
    for email, watermark, last_slot, last_sent_at in rows:
        assert watermark == seq and last_slot in slots and last_sent_at == 0, email

    # cron in the same period: nothing for anyone
    p = run(conf, "run", check=True)
    assert "nothing new to send" in p.stdout.decode(), p.stdout.decode()
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
    assert query(tmp_path, "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'") == [
        (len(usa_readers),)]
    # the start is history now: `status` shows the digest
    assert "started clean" not in status_line(conf, "zoe@example.net")


def test_desk_does_not_call_a_start_a_digest(tmp_path):
    """The desk's home page after `run --no-send`: no run's digests (none
    sent, none skipped), and each reader's row says "started clean"."""
    from test_serve import Server
    conf = site(tmp_path)
    run(conf, "run", "--no-send", check=True)
    srv = Server(conf)
    try:
        status, _, body = srv.get("/")
    finally:
        assert srv.stop() == 0, srv.output()
    page = body.decode()
    assert status == 200
    assert "No digest has been sent or skipped yet." in page, page
    assert "All time: 0 sent, 0 skipped." in page, page
    rows = re.findall(r"<tr><td><a href=\"/preview\?to=[^\"]+\">([^<]+)</a>.*?</tr>", page)
    assert sorted(rows) == sorted(READERS), rows
    assert page.count("<td>started clean ") == len(READERS), page


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
    db = sqlite3.connect(db_path(tmp_path))
    with db:       # what the preference centre's pause stores
        db.execute("UPDATE members SET paused_until = ? WHERE email_key = ?",
                   (int(datetime.now(UTC).timestamp()) + 3600, "paused@example.org"))
    db.close()
    before = query(tmp_path, "SELECT email, watermark, last_slot, last_sent_at"
                   " FROM subscriber_state ORDER BY email")

    p = run(conf, "send", "--no-send", check=True)
    out = p.stdout.decode()
    assert "send --no-send: 2 readers started clean" in out, out
    assert f"{len(READERS)} left alone" in out, out
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
    """The dates on the text part's second line, "SINCE to UNTIL"."""
    line = msg.get_body(("plain",)).get_content().splitlines()[1]
    since, until = line.split(" to ")
    return (datetime.strptime(since, "%d %B %Y").date(),
            datetime.strptime(until, "%d %B %Y").date())


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
        html = msg.get_body(("html",)).get_content()
        fmt = [d.strftime("%d %B %Y").lstrip("0") for d in (min(shown), max(shown))]
        assert f"{fmt[0]} to {fmt[1]}" in html, to

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

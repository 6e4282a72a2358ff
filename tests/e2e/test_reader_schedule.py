"""Each reader's own schedule, end to end, and the send run's walk of the
store's roster.

The runs use the real clock, so every schedule here is set relative to
the moment the test starts: the site's slot two days back at 12:00 UTC,
a reader's "daily" a minute ago, and so on. Expected slots are worked out
in Python with zoneinfo, independently of tagdigest, and compared with
what the store recorded (read-only) and what `status` prints.

A reader's choices (frequency, day, time, zone) are written into the
store's roster with SQL, standing in for the preference centre (the
public server's POST /preferences/TOKEN calls td_roster_set_prefs, which
writes these columns and sets reader_choice). The unsubscribe mid-send is
made by `tagdigest subscribers remove`, a second process, as an editor
would.
"""
import json
import os
import re
import subprocess
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from conftest import BIN, Sink, expected_urls, open_store, parse, run, store_copy, write_site

UTC = timezone.utc
USA = ("u.md", "Sanctions debate in Washington", ["USA"], "https://news.test/p/u/")


# ---- the site, its readers and its store ---------------------------------

def site(tmp_path, transport="maildir", smtp_url=None, extra_rows=""):
    """The conftest site with its slot moved to 12:00 UTC two days back
    (weekly), so `now` is well inside a period, whatever day the test
    runs."""
    conf = write_site(tmp_path, transport, smtp_url, extra_rows)
    slot_day = (datetime.now(UTC) - timedelta(days=2)).strftime("%A").lower()
    text = conf.read_text()
    text = text.replace("day = monday\n", f"day = {slot_day}\n")
    text = text.replace("time = 08:00\n", "time = 12:00\n")
    text = text.replace("timezone = Europe/Berlin\n", "timezone = UTC\n")
    conf.write_text(text)
    return conf


def query(tmp_path, sql, *args):
    with open_store(tmp_path, readonly=True) as db:
        return db.execute(sql, args).fetchall()


def set_prefs(tmp_path, email, frequency="weekly", wday=None, hour=None, minute=None,
              zone=None):
    """What the preference centre stores for a reader (td_roster_set_prefs)."""
    own = wday is not None or hour is not None
    with open_store(tmp_path) as db:
        n = db.execute(
            "UPDATE members SET frequency = ?, own_time = ?, wday = ?, hour = ?,"
            " minute = ?, timezone = ?, reader_choice = 1 WHERE email_key = ?",
            (frequency, int(own), wday or 0, hour or 0, minute or 0, zone,
             email.lower())).rowcount
    assert n == 1, email


def add_post(root, fname, title, tags, url):
    (root / "posts" / fname).write_text(
        "---\n"
        f'title: "{title}"\n'
        "date: 2026-11-27T10:00:00Z\n"
        f"tags: [{', '.join(tags)}]\n"
        f"url: {url}\n"
        "---\n"
        "A paragraph.\n", encoding="utf-8")


def delivered(tmp_path, seen):
    """{recipient: (Message-ID, text part)} of the Maildir files that
    arrived since `seen` (updated); each parsed strictly."""
    new_dir = tmp_path / "outbox" / "new"
    got = {}
    for name in sorted(set(os.listdir(new_dir)) - seen):
        seen.add(name)
        msg = parse((new_dir / name).read_bytes())
        to = msg["To"].addresses[0].addr_spec
        assert to not in got, f"two digests for {to} in one run"
        got[to] = (msg["Message-ID"], msg.get_body(("plain",)).get_content())
    return got


def ids_and_urls(got):
    return {to: (mid, frozenset(re.findall(r"https://news\.test/p/[a-z]+/", text)))
            for to, (mid, text) in got.items()}


def slots(tmp_path, email):
    return [r[0] for r in query(tmp_path, "SELECT slot FROM deliveries WHERE email = ?"
                                " ORDER BY slot", email)]


# ---- slots, worked out in Python -----------------------------------------

def local_slot(zone, day, hour, minute):
    # fold=0: a wall time that happens twice counts at its first reading
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))


def weekly_last(zone, wday, hour, minute, now):
    """The last weekly slot at or before `now` (wday: 0 = Sunday)."""
    local = now.astimezone(ZoneInfo(zone))
    for back in range(0, 15):
        day = (local - timedelta(days=back)).date()
        if (day.weekday() + 1) % 7 == wday:
            t = local_slot(zone, day, hour, minute)
            if t <= now:
                return int(t.timestamp())
    raise AssertionError("no slot in two weeks")


def weekly_next(zone, wday, hour, minute, after):
    local = after.astimezone(ZoneInfo(zone))
    for fwd in range(0, 15):
        day = (local + timedelta(days=fwd)).date()
        if (day.weekday() + 1) % 7 == wday:
            t = local_slot(zone, day, hour, minute)
            if t > after:
                return int(t.timestamp())
    raise AssertionError("no slot in two weeks")


def site_slot(now):
    """The slot site() configures: 12:00 UTC on the weekday two days back."""
    day = now - timedelta(days=2)
    return weekly_last("UTC", (day.weekday() + 1) % 7, 12, 0, now)


def status_line(conf, email):
    out = run(conf, "status", check=True).stdout.decode()
    lines = [line for line in out.splitlines() if line.startswith(f"  {email} ")]
    assert len(lines) == 1, out
    return lines[0]


# ---- a reader in Tokyo -----------------------------------------------------

def test_tokyo_reader_gets_monday_0800_tokyo(tmp_path):
    """A reader in Tokyo who chose Monday 08:00 has their digest recorded
    for 08:00 in Tokyo (Sunday 23:00 UTC), the others for the site's slot;
    `status` shows their next one in their zone and in the site's."""
    conf = site(tmp_path)
    run(conf, "ingest", check=True)
    # before the first run the store has nobody: the editors' CLI adds
    # the reader, who then chooses their schedule
    run(conf, "subscribers", "add", "tokyo@example.jp", "--tags", "usa,nato",
        "--name", "東京の読者", check=True)
    set_prefs(tmp_path, "tokyo@example.jp", "weekly", wday=1, hour=8, minute=0,
              zone="Asia/Tokyo")
    start = datetime.now(UTC)
    p = run(conf, "send", check=True)
    end = datetime.now(UTC)
    seen = set()
    got = delivered(tmp_path, seen)
    assert "tokyo@example.jp" in got, p.stdout.decode()
    assert set(expected_urls(["usa", "nato"])) <= set(
        re.findall(r"https://news\.test/p/[a-z]+/", got["tokyo@example.jp"][1]))

    (slot,) = slots(tmp_path, "tokyo@example.jp")
    assert slot in {weekly_last("Asia/Tokyo", 1, 8, 0, t) for t in (start, end)}
    wall = datetime.fromtimestamp(slot, ZoneInfo("Asia/Tokyo"))
    assert (wall.weekday(), wall.hour, wall.minute) == (0, 8, 0), wall
    utc_wall = datetime.fromtimestamp(slot, UTC)
    assert (utc_wall.weekday(), utc_wall.hour) == (6, 23), utc_wall     # Sunday 23:00
    # the file's readers: the site's slot
    for addr in ("juergen@example.org", "zoe@example.net"):
        assert slots(tmp_path, addr) in ([site_slot(start)], [site_slot(end)]), addr

    # next due: the Monday 08:00 Tokyo after the last one, in both zones
    nxt = weekly_next("Asia/Tokyo", 1, 8, 0, datetime.fromtimestamp(slot, UTC))
    line = status_line(conf, "tokyo@example.jp")
    tokyo = datetime.fromtimestamp(nxt, ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M JST")
    in_utc = datetime.fromtimestamp(nxt, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert "weekly Mon 08:00 Asia/Tokyo" in line, line
    assert f"{tokyo}  " in line and f"{in_utc}  " in line, line
    assert tokyo.endswith("08:00 JST") and in_utc.endswith("23:00 UTC")

    # the same period again: nothing for anyone
    p = run(conf, "send", check=True)
    assert "nothing new to send" in p.stdout.decode(), p.stdout.decode()
    assert delivered(tmp_path, seen) == {}


# ---- changing the schedule: the watermark rule ----------------------------

def test_moving_the_day_never_repeats_nor_loses_a_post(tmp_path):
    """A reader who moves their day before the one they got waits for their
    next slot (one digest per period); one who then goes daily gets the
    posts that arrived since, and only those; going monthly waits for the
    month's slot."""
    conf = site(tmp_path)
    run(conf, "ingest", check=True)
    start = datetime.now(UTC)
    run(conf, "send", check=True)
    seen = set()
    first = delivered(tmp_path, seen)
    assert "zoe@example.net" in first and "li@example.com" in first
    (got_slot,) = slots(tmp_path, "zoe@example.net")
    assert got_slot in (site_slot(start), site_slot(datetime.now(UTC)))

    # a day earlier than the slot of the digest she has: not due
    earlier = datetime.fromtimestamp(got_slot, UTC) - timedelta(days=1)
    set_prefs(tmp_path, "zoe@example.net", "weekly", wday=(earlier.weekday() + 1) % 7,
              hour=12, minute=0, zone="UTC")
    add_post(tmp_path, *USA)
    run(conf, "ingest", check=True)
    p = run(conf, "send", check=True)
    # nobody's period is new: li follows USA too and waits for her slot
    assert delivered(tmp_path, seen) == {}, p.stdout.decode()
    assert "nothing new to send" in p.stdout.decode()
    line = status_line(conf, "zoe@example.net")
    nxt = weekly_next("UTC", (earlier.weekday() + 1) % 7, 12, 0,
                      datetime.fromtimestamp(got_slot, UTC))
    assert datetime.fromtimestamp(nxt, UTC).strftime("%Y-%m-%d %H:%M UTC") in line, line
    assert line.rstrip().endswith(" 1"), line           # the USA post waits

    # daily, a minute ago: a new period; the one post that waited, no other
    minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    set_prefs(tmp_path, "zoe@example.net", "daily", hour=minute_ago.hour,
              minute=minute_ago.minute, zone="UTC")
    p = run(conf, "send", check=True)
    got = delivered(tmp_path, seen)
    assert set(got) == {"zoe@example.net"}, p.stdout.decode()
    urls = set(re.findall(r"https://news\.test/p/[a-z]+/", got["zoe@example.net"][1]))
    assert urls == {USA[3]}, urls
    assert slots(tmp_path, "zoe@example.net")[-1] == int(
        minute_ago.replace(second=0, microsecond=0).timestamp())

    # monthly on the first weekday of this month that is past: not due,
    # whatever the day; status gives the next month's
    set_prefs(tmp_path, "zoe@example.net", "monthly", wday=1, hour=12, minute=0, zone="UTC")
    p = run(conf, "send", check=True)
    assert delivered(tmp_path, seen) == {}
    assert "monthly 1st Mon 12:00 UTC" in status_line(conf, "zoe@example.net")


def test_a_kept_retry_is_resent_or_replaced_never_orphaned(tmp_path):
    """Digests kept for a retry (4xx at RCPT), then two readers change
    their schedule before the next run: the one whose new slot comes after
    the retry's gets one fresh digest and the retry is given up (its posts
    are in the fresh one); the one whose new slot comes before keeps the
    retry as this period's digest, resent with its Message-ID. The others'
    retries are resent as before."""
    bad = Sink("-r", "RCPT")
    try:
        conf = site(tmp_path, "smtp", bad.url)
        opts = ["-o", "transport.run_retries=0", "-o", "transport.retry_backoff=0"]
        run(conf, "ingest", check=True)
        assert run(conf, *opts, "send").returncode == 75
    finally:
        bad.stop()
    kept = dict(query(tmp_path, "SELECT email, message_id FROM pending WHERE state = 'retry'"))
    retry_slot = {s for (s,) in query(tmp_path, "SELECT DISTINCT slot FROM pending")}
    assert len(kept) == 4 and len(retry_slot) == 1, kept
    (retry_slot,) = retry_slot

    minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    set_prefs(tmp_path, "zoe@example.net", "daily", hour=minute_ago.hour,
              minute=minute_ago.minute, zone="UTC")
    earlier = datetime.fromtimestamp(retry_slot, UTC) - timedelta(days=1)
    set_prefs(tmp_path, "li@example.com", "weekly", wday=(earlier.weekday() + 1) % 7,
              hour=12, minute=0, zone="UTC")

    maildir = ["-o", "transport.type=maildir", "-o", f"transport.path={tmp_path / 'outbox'}"]
    p = run(conf, *opts, *maildir, "send")
    assert p.returncode == 0, p.stderr.decode()
    got = delivered(tmp_path, set())
    assert set(got) == set(kept), p.stdout.decode()
    # zoe: one fresh digest for her new slot, with every post of her tags
    assert got["zoe@example.net"][0] != f"<{kept['zoe@example.net']}>"
    urls = set(re.findall(r"https://news\.test/p/[a-z]+/", got["zoe@example.net"][1]))
    assert urls == expected_urls(["nato", "usa"])
    assert slots(tmp_path, "zoe@example.net") == [
        int(minute_ago.replace(second=0, microsecond=0).timestamp())]
    (state, error), = query(tmp_path, "SELECT state, last_error FROM pending"
                            " WHERE email = 'zoe@example.net'")
    assert state == "expired" and "carries its posts" in error, error
    assert "zoe@example.net: the digest kept for a retry" in p.stderr.decode()
    # li and the others: the kept bytes, under the retry's slot
    for addr in ("li@example.com", "juergen@example.org", "plain@example.org"):
        assert got[addr][0] == f"<{kept[addr]}>", addr
        assert slots(tmp_path, addr) == [retry_slot], addr
    assert "3 resent" in p.stdout.decode(), p.stdout.decode()
    assert query(tmp_path, "SELECT COUNT(*) FROM pending WHERE state = 'retry'") == [(0,)]
    # and nobody is due again in this period
    p = run(conf, *opts, *maildir, "send", check=True)
    assert "nothing new to send" in p.stdout.decode(), p.stdout.decode()


# ---- the walk: the file synced into the store ------------------------------

def test_dry_run_reports_the_sync_and_writes_nothing(tmp_path):
    """The first run's dry run: the store has no readers yet, the file has
    five. It reports what the real run then does (the sync's counts, the
    same digests) and leaves the store as it was; after an edit of the
    file, it reports the edit without applying it."""
    conf = site(tmp_path)
    run(conf, "ingest", check=True)
    due = {"juergen@example.org", "zoe@example.net", "li@example.com", "plain@example.org"}
    p = run(conf, "send", "--dry-run", "--json", check=True)
    dry = json.loads(p.stdout)
    assert dry["file"] == {"rows": 5, "bad": 0, "added": 5, "updated": 0, "unchanged": 0,
                           "removed": 0, "not_applied": 0, "reader_kept": 0}, dry
    assert (dry["would_send"], dry["skipped"], dry["subscribers"]) == (4, 1, 5), dry
    would = set(re.findall(r"would send to (\S+):", p.stderr.decode()))
    assert would == due
    assert query(tmp_path, "SELECT COUNT(*) FROM members") == [(0,)]
    assert query(tmp_path, "SELECT COUNT(*) FROM deliveries") == [(0,)]

    p = run(conf, "send", "--json", check=True)
    real = json.loads(p.stdout)
    assert real["file"] == dry["file"] and (real["sent"], real["skipped"]) == (4, 1), real
    seen = set()
    assert set(delivered(tmp_path, seen)) == due

    # the editor adds a reader and deletes plain@; a reader who left
    # stays out though the file still has them
    run(conf, "subscribers", "remove", "juergen@example.org", check=True)
    csv = tmp_path / "subscribers.csv"
    rows = [r for r in csv.read_text().splitlines() if not r.startswith("plain@")]
    csv.write_text("\n".join(rows + ["new@example.org,New Reader,usa"]) + "\n")
    p = run(conf, "send", "--dry-run", "--json", check=True)
    dry = json.loads(p.stdout)
    assert dry["file"]["added"] == 1 and dry["file"]["removed"] == 1, dry
    assert dry["file"]["not_applied"] == 1, dry
    assert set(re.findall(r"would send to (\S+):", p.stderr.decode())) == {"new@example.org"}
    assert "1 row in" in p.stderr.decode() and "not applied" in p.stderr.decode()
    assert query(tmp_path, "SELECT status FROM members WHERE email_key = 'plain@example.org'"
                 ) == [("active",)]
    p = run(conf, "send", check=True)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert set(delivered(tmp_path, seen)) == {"new@example.org"}, out
    assert "1 sent" in out and "1 row of the subscriber file not applied" in out, out
    assert "unsubscribed, bounced or complained; it was not applied" in err, err
    assert query(tmp_path, "SELECT COUNT(*) FROM members WHERE email_key = 'plain@example.org'"
                 ) == [(0,)]
    assert slots(tmp_path, "new@example.org") != []


# ---- an unsubscribe while the run sends ------------------------------------

def test_unsubscribed_mid_send_gets_nothing_after_it(tmp_path):
    """A send against a slow SMTP server (3 s per message, one session):
    while the first message is being answered, an editor removes a reader
    whose digest is already composed and queued. The sender asks the store
    again before handing it over: the reader gets nothing, nothing is
    recorded for them, their watermark stays. The reader removed is the
    fourth in the walk: digests are composed on several threads, so the
    second and third may go out in either order; the fourth waits queued
    behind them."""
    slow = Sink("-w", "3")
    extra = "".join(f"r{i}@example.org,Reader {i},usa\n" for i in range(4))
    try:
        conf = site(tmp_path, "smtp", slow.url, extra)
        run(conf, "ingest", check=True)
        proc = subprocess.Popen([BIN, "-c", str(conf), "-o", "transport.connections=1",
                                 "send"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # juergen's goes first and alone; once it is recorded, the
            # queue fills: zoe's or li's goes to the session (3 s), the
            # other and plain's wait
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()
                if query(
                        tmp_path, "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'"
                ) == [(1,)]:
                    break
                time.sleep(0.02)
            time.sleep(0.3)
            p = run(conf, "subscribers", "remove", "plain@example.org")
            assert p.returncode == 0, p.stderr.decode()
            assert proc.poll() is None, "the send ended before the remove"
            out, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err.decode()
        rcpts = sorted(r for rs, _, _ in slow.messages() for r in rs)
    finally:
        slow.stop()
    want = sorted(["juergen@example.org", "zoe@example.net", "li@example.com"] +
                  [f"r{i}@example.org" for i in range(4)])
    assert rcpts == want, (rcpts, out.decode())
    assert "plain@example.org: unsubscribed or paused while the run was sending" in err.decode()
    assert "1 unsubscribed" in out.decode(), out.decode()
    assert query(tmp_path, "SELECT COUNT(*) FROM deliveries WHERE email = 'plain@example.org'"
                 ) == [(0,)]
    assert query(tmp_path, "SELECT COUNT(*) FROM attempts WHERE email = 'plain@example.org'"
                 ) == [(0,)]
    assert query(tmp_path, "SELECT watermark FROM subscriber_state"
                 " WHERE email = 'plain@example.org'") in ([], [(0,)])
    assert query(tmp_path, "SELECT status FROM members WHERE email_key = 'plain@example.org'"
                 ) == [("unsubscribed",)]


# ---- the Message-ID is for the reader's slot -------------------------------

def test_recomposed_digest_keeps_its_id_when_the_site_slot_moves(tmp_path):
    """A digest composed again (a crash between the relay's accept and the
    record) keeps its Message-ID when it shows the same posts in the same
    slot of the reader's. A reader on their own schedule keeps it though
    the site's slot moved meanwhile; a reader on the site's gets a new
    one, since their slot did move."""
    conf = site(tmp_path)
    run(conf, "ingest", check=True)
    run(conf, "subscribers", "add", "zoe@example.net", "--tags", "nato,usa", check=True)
    run(conf, "subscribers", "add", "li@example.com", "--tags", "north-korea,usa",
        check=True)
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    set_prefs(tmp_path, "zoe@example.net", "daily", hour=hour_ago.hour,
              minute=hour_ago.minute, zone="Asia/Tokyo")
    before = store_copy(tmp_path)
    seen = set()
    run(conf, "send", check=True)
    first = ids_and_urls(delivered(tmp_path, seen))

    # the crash: put the store back; and the site's slot moves a day on
    store_copy(tmp_path, before)
    moved_day = (datetime.now(UTC) - timedelta(days=1)).strftime("%A").lower()
    run(conf, "-o", f"schedule.day={moved_day}", "send", check=True)
    again = ids_and_urls(delivered(tmp_path, seen))
    assert first["zoe@example.net"] == again["zoe@example.net"]
    assert first["li@example.com"][1] == again["li@example.com"][1]
    assert first["li@example.com"][0] != again["li@example.com"][0]

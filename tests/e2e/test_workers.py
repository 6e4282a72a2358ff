"""Several senders on one PostgreSQL store (store/claims.h, store/lock.h),
with the real things: the tagdigest binary, a throwaway PostgreSQL 15
(tests/pg_server.py, a fresh database per test) and Postfix's smtp-sink,
which dumps every message it accepts.

- Three `send` processes started together, through two smtp-sink relays
  ([relay.NAME]), split the readers (each walks batches of its own), sync
  the subscriber file once (the other two wait for the roster lock and
  find it unchanged), and every reader gets exactly one digest: counted
  per recipient over both sinks, a sample parsed by the email package
  (defects checked), recorded once in the store.
- One of three senders is SIGKILLed mid-send, again and again (at least
  TD_WORKER_KILLS times, default 20, each while it is delivering, and
  restarted at once); the other two keep going, through the two relays.
  The killed one's relays point at a third smtp-sink of its own, so
  "mid-send" is seen there. In the
  end nothing is lost (every reader one recorded delivery, at least one
  message), and the duplicates stay within the bound: one per connection
  of the killed sender per kill, each with the first copy's Message-ID.
- A second `ingest` while one runs skips its ingest, says so and exits 0;
  a `run` then skips its ingest and still sends.
- On SQLite a second sender is still refused (75) while one sends.
"""
import email.policy
import http.server
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pg_server import pg_server, pg_url  # noqa: E402,F401  (pytest fixtures)

from conftest import (BACKEND, BIN, SUBSCRIBERS, Sink, expected_urls, http_server,  # noqa: E402
                      parse, run, write_site)

# These tests start a PostgreSQL of their own and read it through psql;
# under `make e2e-pg` the wrapper (pg_store_bin.sh) would move each site's
# store to another database behind their back. `make e2e` runs them.
pytestmark = pytest.mark.skipif(BACKEND == "postgres",
                                reason="starts its own PostgreSQL; run by make e2e")

HEADERS = BytesHeaderParser(policy=email.policy.compat32)   # counting only

SECRET = {"TAGDIGEST_TOKEN_SECRET": "w" * 40}   # shared by all senders, as on many machines
KILLS = int(os.environ.get("TD_WORKER_KILLS", "20"))
LEASE = 3                # [send] lease: the shortest the config takes
VICTIM_CONNECTIONS = 2   # two relays, one session each


def pg_site(tmp_path, url, relays, rows="", extra=""):
    """The test site (conftest.write_site) on the PostgreSQL database url,
    sending through the sinks `relays` ([relay.r0], [relay.r1], ...)."""
    conf = write_site(tmp_path, "smtp", "smtp://127.0.0.1:1", extra_rows=rows)
    text = conf.read_text(encoding="utf-8").replace("path = var/store.db\n", f"url = {url}\n")
    text = text.replace("url = smtp://127.0.0.1:1\n", "")
    text += "".join(f"[relay.r{i}]\nurl = {sink.url}\n" for i, sink in enumerate(relays))
    conf.write_text(text + extra, encoding="utf-8")
    return conf


def readers(prefix, n):
    return "".join(f"{prefix}{i:05d}@example.org,{prefix} {i},usa\n" for i in range(n))


def due_readers(prefix, n):
    return {s[0] for s in SUBSCRIBERS if expected_urls(s[2])} | \
           {f"{prefix}{i:05d}@example.org" for i in range(n)}


def sql(url, query):
    """Rows of query on url, through psql: a list of field lists."""
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url,
                          "-c", query], capture_output=True, timeout=60, check=True)
    return [line.split("|") for line in out.stdout.decode().splitlines() if line]


def sender(conf, *opts):
    env = dict(os.environ, **SECRET)
    return subprocess.Popen([BIN, "-c", str(conf), *opts, "send"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def stop(procs):
    """Whatever of procs still runs (a failed test's), killed and reaped."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


def received(*sinks, sample=150):
    """(recipient, Message-ID) of every message the sinks dumped, from
    each dump's header block (smtp-sink's X-Rcpt-Args, then the
    message's own); a random sample of `sample` per sink is parsed whole
    by the email package with policy.default, which fails on any defect
    (conftest.parse)."""
    out = []
    rnd = random.Random(3)
    for sink in sinks:
        names = sorted(os.listdir(sink.dumps))
        check = set(rnd.sample(names, min(sample, len(names))))
        for name in names:
            raw = (Path(sink.dumps) / name).read_bytes()
            head = HEADERS.parsebytes(raw)
            rcpts = [a.strip("<>") for a in head.get_all("X-Rcpt-Args", [])]
            assert len(rcpts) == 1, rcpts
            assert head["Message-ID"], name
            out.append((rcpts[0], head["Message-ID"]))
            if name in check:
                msg = parse(raw)
                assert msg["Message-ID"] == head["Message-ID"]
                assert msg.get_body(("plain",)) and msg.get_body(("html",)), name
    return out


def recorded(url):
    """Recipient -> deliveries recorded as sent."""
    return {e: int(n) for e, n in sql(url, "SELECT email, COUNT(*) FROM deliveries"
                                           " WHERE status = 'sent' GROUP BY email")}


def test_three_senders_send_each_digest_once(tmp_path, pg_url):
    n = 3000
    sinks = [Sink(), Sink()]
    procs = []
    try:
        conf = pg_site(tmp_path, pg_url, sinks, readers("r", n))
        run(conf, "ingest", check=True)
        procs = [sender(conf, "-o", "send.batch=250") for _ in range(3)]
        outs = [p.communicate(timeout=240) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err.decode()
        errs = [err.decode() for _, err in outs]
        # one synced the file; the two others waited for it and found it unchanged
        synced = [e for e in errs if re.search(r"synced: 3005 added", e)]
        unchanged = [e for e in errs if "unchanged since the last run" in e]
        assert len(synced) == 1 and len(unchanged) == 2, errs
        # each sender walked batches of its own: the list was shared
        walked = [int(re.search(r"send: (\d+) batch(?:es)? of readers walked", e).group(1))
                  for e in errs]
        assert all(w >= 1 for w in walked) and sum(walked) == 13, walked   # 3005 / 250

        due = due_readers("r", n)
        per = Counter(r for r, _ in received(*sinks))
        assert set(per) == due, sorted(set(per) ^ due)[:10]
        assert all(os.listdir(s.dumps) for s in sinks), "a relay got nothing"
        assert [r for r, c in per.items() if c != 1] == []
        sent = sum(int(re.search(r"send: (\d+) sent", o.decode()).group(1)) for o, _ in outs)
        assert sent == len(due)
        rec = recorded(pg_url)
        assert set(rec) == due and set(rec.values()) == {1}
    finally:
        stop(procs)
        for s in sinks:
            s.stop()


def test_sigkill_one_of_three_senders(tmp_path, pg_url, request):
    n = 1200
    sinks, own = [Sink(), Sink()], Sink()    # "own": where the killed one sends
    procs = []
    try:
        conf = pg_site(tmp_path, pg_url, sinks, readers("k", n))
        run(conf, "ingest", check=True)
        batches = ["-o", f"send.lease={LEASE}", "-o", "send.batch=50"]
        # the two that live send slowly, so the work outlasts the kills
        procs = [sender(conf, *batches, "-o", "transport.rate_per_second=12")
                 for _ in range(2)]
        # its two relays (one session each) lead to its own sink
        victim_opts = [*batches, "-o", f"relay.r0.url={own.url}",
                       "-o", f"relay.r1.url={own.url}", "-o", "transport.rate_per_second=30"]
        rnd = random.Random(int(os.environ.get("TD_WORKER_SEED", "7")))
        kills = mid_send = 0
        starts = []                     # seconds from a start to its first message
        deadline = time.monotonic() + 30 + KILLS * 3
        while mid_send < KILLS and kills < KILLS * 3 and time.monotonic() < deadline:
            before = len(os.listdir(own.dumps))
            victim = sender(conf, *victim_opts)
            procs.append(victim)
            # once it delivers (bounded), a little later: mid-send
            started = time.monotonic()
            while (len(os.listdir(own.dumps)) == before and victim.poll() is None
                   and time.monotonic() - started < 10):
                time.sleep(0.02)
            starts.append(time.monotonic() - started)
            time.sleep(rnd.uniform(0, 0.5))
            if victim.poll() is not None:
                break                   # nothing left to send: no kill can land
            victim.kill()
            victim.wait(timeout=10)
            kills += 1
            if len(os.listdir(own.dumps)) > before:
                mid_send += 1           # it was delivering when it died
        for p in procs[:2]:             # the two that were never killed
            out, err = p.communicate(timeout=240)
            assert p.returncode == 0, err.decode()
        # What the dead left under their leases: taken by whoever claims
        # after the leases ran out; here, one more run.
        time.sleep(LEASE + 0.5)
        last = run(conf, *batches, "send", timeout=240, env=SECRET)
        assert last.returncode == 0, last.stderr.decode()

        ids_of = defaultdict(list)      # recipient -> Message-IDs received
        for r, mid in received(*sinks, own):
            ids_of[r].append(mid)
        due = due_readers("k", n)
        missing = due - ids_of.keys()
        dups = sum(len(ids) - 1 for ids in ids_of.values())
        tally = "workers test: " + ", ".join([
            f"{kills} SIGKILLs of one of three senders ({mid_send} mid-send)",
            f"{len(due)} due", f"{sum(map(len, ids_of.values()))} messages received",
            f"{len(missing)} missing", f"{dups} duplicates (limit {VICTIM_CONNECTIONS} "
            f"per kill = {VICTIM_CONNECTIONS * kills})", "first message "
            f"{min(starts, default=0):.1f}-{max(starts, default=0):.1f} s after a start"])
        terminal = request.config.pluginmanager.get_plugin("terminalreporter")
        (terminal.write_line if terminal else print)(tally)
        problems = [what for what, bad in [
            (f"fewer than {KILLS} kills landed mid-send", mid_send < KILLS),
            (f"lost: {sorted(missing)[:10]}", missing),
            (f"not due: {sorted(ids_of.keys() - due)[:10]}", ids_of.keys() - due),
            ("more duplicates than the bound", dups > VICTIM_CONNECTIONS * kills),
            (f"a duplicate with a new Message-ID: "
             f"{[r for r, ids in ids_of.items() if len(set(ids)) > 1][:5]}",
             any(len(set(ids)) > 1 for ids in ids_of.values())),
        ] if bad]
        assert not problems, f"{tally}: {problems}"
        rec = recorded(pg_url)
        assert set(rec) == due and set(rec.values()) == {1}
        assert sql(pg_url, "SELECT COUNT(*) FROM pending") == [["0"]]
        # every recorded Message-ID really arrived
        ids = dict(sql(pg_url, "SELECT email, '<' || message_id || '>' FROM deliveries"
                               " WHERE status = 'sent'"))
        assert all(ids[r] in ids_of[r] for r in due)
    finally:
        stop(procs)
        for s in (*sinks, own):
            s.stop()


class SlowFeed(http.server.BaseHTTPRequestHandler):
    """One RSS item, after `delay` seconds; `asked` is set when a request
    came in (the ingest asking holds the ingest lock by then)."""
    delay = 0.0
    asked = threading.Event()

    def do_GET(self):
        SlowFeed.asked.set()
        time.sleep(SlowFeed.delay)
        body = ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
                '<title>Slow</title><link>https://news.test/</link>'
                '<item><title>Slow news</title><link>https://news.test/slow/</link>'
                '<guid>https://news.test/slow/</guid><category>USA</category>'
                '<pubDate>Mon, 23 Nov 2026 10:00:00 GMT</pubDate></item>'
                '</channel></rss>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_second_ingest_skips_and_run_still_sends(tmp_path, pg_url, sink):
    with http_server(SlowFeed) as origin:
        conf = pg_site(tmp_path, pg_url, [sink],
                       extra=f"[source.slow]\ntype = feed\nurl = {origin}/feed.rss\n")
        SlowFeed.delay = 0
        run(conf, "ingest", check=True)
        SlowFeed.delay = 3
        SlowFeed.asked.clear()
        first = subprocess.Popen([BIN, "-c", str(conf), "ingest"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        try:
            assert SlowFeed.asked.wait(20), "the first ingest did not fetch"
            second = run(conf, "ingest")
            err = second.stderr.decode()
            assert second.returncode == 0, err
            assert f"ingest: another process is ingesting into {pg_url}; skipped" in err
            assert second.stdout == b""
            js = run(conf, "ingest", "--json")
            assert js.returncode == 0 and js.stdout.decode().strip() == \
                '{"skipped":true,"exit":0}', js.stdout
            # run: no ingest of its own, and the digests still go out
            both = run(conf, "run", env=SECRET)
            out, err = both.stdout.decode(), both.stderr.decode()
            assert both.returncode == 0, err
            assert "another process is ingesting" in err
            assert re.search(r"^send: [1-9]\d* sent", out, re.M), out
            assert not out.startswith("ingest:"), out
        finally:
            out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err.decode()
        assert "skipped" not in err.decode()
        # the lock went with the first one: the next ingest reads
        SlowFeed.delay = 0
        again = run(conf, "ingest")
        assert again.returncode == 0 and again.stdout.decode().startswith("ingest:"), again.stderr


def test_recorder_waits_for_a_row_another_transaction_holds(tmp_path, pg_url, sink):
    """An editor's long transaction (a clean start, an import) holds a
    reader's row for longer than any lock timeout would allow: the
    sender's recorder waits for it, records the digest the relay took,
    and the next send does not send it again. (With a 5 s lock_timeout on
    every session the sender stopped with 75, the digest unrecorded.)"""
    import psycopg2
    conf = pg_site(tmp_path, pg_url, [sink])
    run(conf, "ingest", check=True)
    holder = psycopg2.connect(pg_url)
    holder.cursor().execute(
        "INSERT INTO subscriber_state (email, watermark, last_slot, last_sent_at)"
        " VALUES ('zoe@example.net', 0, 0, 0)")
    release = threading.Timer(7, holder.rollback)
    release.start()
    try:
        first = run(conf, "send", env=SECRET, timeout=120)
    finally:
        release.join()
        holder.close()
    assert first.returncode == 0, first.stderr.decode()
    again = run(conf, "send", env=SECRET, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    got = Counter(rcpts[0] for rcpts, _, _ in sink.messages())
    assert got["zoe@example.net"] == 1, got
    assert sql(pg_url, "SELECT count(*) FROM deliveries WHERE email = 'zoe@example.net'"
                       " AND status = 'sent'") == [["1"]]


def test_sqlite_senders_still_refuse_each_other(tmp_path):
    # The first send has posts to send and smtp-sink stalls each DATA for
    # 3 s (its four readers take 12 s), so it holds the lock far longer than
    # the two refused commands take. (Before, it had nothing to send and held the lock only for its
    # start-up: under ASan that was usually long enough, but CI once saw it
    # end before the ingest started, and that ingest rightly ran.)
    stalled = Sink("-w", "3")
    try:
        conf = write_site(tmp_path, "smtp", stalled.url)
        run(conf, "ingest", check=True)     # posts in store: the send has mail to stall on
        first = subprocess.Popen([BIN, "-c", str(conf), "send"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        try:
            lock = tmp_path / "var" / "store.db.lock"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (
                    lock.exists() and lock.read_text().strip() == str(first.pid)):
                time.sleep(0.05)
            assert lock.read_text().strip() == str(first.pid)
            refused = {cmd: run(conf, cmd) for cmd in ("send", "ingest")}
            # the premise: both were refused while the first still held the lock
            assert first.poll() is None, "the first send ended before the others ran"
        finally:
            out, err = first.communicate(timeout=90)
    finally:
        stalled.stop()
    assert first.returncode == 0, err
    # exit 75, a word on stderr, nothing on stdout: as before PostgreSQL
    assert {cmd: (p.returncode, b"another tagdigest run is in progress" in p.stderr,
                  p.stdout) for cmd, p in refused.items()} == \
        {"send": (75, True, b""), "ingest": (75, True, b"")}

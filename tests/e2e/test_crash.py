"""Crash safety, proven by killing: `tagdigest send` is SIGKILLed at random
moments while it delivers hundreds of digests into smtp-sink (which dumps
every message it accepts), over and over, then run to completion.

What must hold, counted from the sink's dumps and the store:
- no due subscriber misses the digest, and the store records exactly one
  delivery each, whose Message-ID the sink really received;
- duplicates exist only for messages in flight at a kill: at most
  `connections` per kill;
- every duplicate carries the Message-ID of the first copy (the digest is
  composed again after the kill, and its id depends only on what the
  reader gets), so mail clients can drop it; no two recipients share one.

TD_CRASH_KILLS sets the number of kills that must land mid-send (default
50); the loop is bounded in kills and in time either way. Every STALL_EVERY
th kill lands while the test holds the store's write lock, as a stalled
disk would: the messages accepted meanwhile cannot be recorded, so the kill
surely falls between an accept and its record (a random kill rarely does).
The tally is printed on the terminal.

The bound itself is watched from the server's side too: with the store
stalled mid-send, an aiosmtpd server counts what it accepted against what
the store recorded, while each session's next message waits on the wire,
its data sent but for the end.
"""
import os
import random
import subprocess
import threading
import time
from collections import Counter, defaultdict

import pytest
from aiosmtpd.controller import Controller

from conftest import (BACKEND, BIN, SUBSCRIBERS, Sink, expected_urls, free_port, kill,
                      open_store, run, store_write_lock, write_site)

KILLS = int(os.environ.get("TD_CRASH_KILLS", "50"))
# On PostgreSQL (make e2e-pg) a round of the kill loop waits for the
# send's first accept, after the killed one's lease: at most 20 kills
# there (as test_workers.py's), each with 8 s of the time bound rather
# than SQLite's 2.
if BACKEND == "postgres":
    KILLS = min(KILLS, 20)
SECONDS_PER_KILL = 8 if BACKEND == "postgres" else 2
CONNECTIONS = 2
GENERATED = max(400, KILLS * 20)
RATE = 40            # messages per second while being killed: kills land mid-send
STALL_EVERY = 5
STALL = 0.3          # seconds the store stays locked before the kill (busy timeout: 5 s)


def dumped_rcpts(sink):
    """(recipient, Message-ID without <>) of every dumped message, each
    parsed by the email package (which fails on any defect)."""
    out = []
    for rcpts, msg, _ in sink.messages():
        assert len(rcpts) == 1, rcpts
        mid = msg["Message-ID"]
        assert mid and mid.startswith("<") and mid.endswith(">"), mid
        out.append((rcpts[0], mid[1:-1]))
    return out


def test_sigkill_never_loses_and_only_repeats_in_flight(tmp_path, request):
    rows = "".join(f"crash{i:05d}@example.org,Crash {i},usa\n" for i in range(GENERATED))
    sink = Sink()
    try:
        conf = write_site(tmp_path, "smtp", sink.url, extra_rows=rows)
        run(conf, "ingest", check=True)
        due = {s[0] for s in SUBSCRIBERS if expected_urls(s[2])} | \
              {f"crash{i:05d}@example.org" for i in range(GENERATED)}
        o = ["-o", f"transport.connections={CONNECTIONS}",
             "-o", f"transport.rate_per_second={RATE}"]
        if BACKEND == "postgres":
            # a killed sender's batch is taken over once its lease runs
            # out (claims.h): with the default 30 s each next send would
            # wait that long before its first accept, and no kill would
            # land mid-send; 3 s is the shortest lease the config takes
            o += ["-o", "send.lease=3"]
        rnd = random.Random(int(os.environ.get("TD_CRASH_SEED", "5")))
        kills = mid_send = stalled = 0
        deadline = time.monotonic() + 60 + KILLS * SECONDS_PER_KILL
        before = 0
        while mid_send < KILLS and kills < KILLS * 3 and time.monotonic() < deadline:
            proc = subprocess.Popen([BIN, "-q", "-c", str(conf), *o, "send"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if BACKEND == "postgres":
                # its send plans the due readers for longer than the
                # window below (a round trip per query): wait for its first
                # accept, or no kill would ever land mid-send
                until = time.monotonic() + 10
                while (len(os.listdir(sink.dumps)) == before and proc.poll() is None
                       and time.monotonic() < until):
                    time.sleep(0.01)
            time.sleep(rnd.uniform(0.1, 0.6))
            if proc.poll() is not None:
                break               # it finished: nothing left to kill
            # every STALL_EVERY-th kill: the recorder waits on the store
            # while the senders get accepts
            stall = kills % STALL_EVERY == STALL_EVERY - 1
            kill(proc, tmp_path if stall else None, STALL)
            stalled += stall
            kills += 1
            now = len(os.listdir(sink.dumps))
            if now > before:
                mid_send += 1       # it was delivering when it died
            before = now
        # then to completion, at full speed
        p = run(conf, "-o", f"transport.connections={CONNECTIONS}", "send", timeout=300)
        assert p.returncode == 0, p.stderr

        got = dumped_rcpts(sink)
        per = Counter(r for r, _ in got)
        missing = due - set(per)
        dups = sum(n - 1 for n in per.values())
        ids_of = defaultdict(set)          # recipient -> Message-IDs received
        rcpts_of = defaultdict(set)        # Message-ID -> recipients
        for rcpt, mid in got:
            ids_of[rcpt].add(mid)
            rcpts_of[mid].add(rcpt)
        same_id = sum(n - 1 for r, n in per.items() if len(ids_of[r]) == 1)
        db = open_store(tmp_path, readonly=True)
        recorded = db.execute("SELECT email, message_id FROM deliveries WHERE status = 'sent'"
                              ).fetchall()
        pending = db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
        db.close()
        tally = (f"crash test: {kills} SIGKILLs ({mid_send} mid-send, {stalled} with the "
                 f"store stalled), {len(due)} due, "
                 f"{len(got)} messages received, {len(missing)} missing, {dups} duplicates "
                 f"(limit {CONNECTIONS} per kill = {CONNECTIONS * kills}), {same_id} of them "
                 f"with the first copy's Message-ID")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(tally)

        assert mid_send >= KILLS, tally
        assert not missing, sorted(missing)[:10]
        assert set(per) == due, "a message to someone not due"
        assert dups <= CONNECTIONS * kills, tally
        # a repeated digest is recognisable as one: the same Message-ID as
        # the first copy; and different digests never share an id
        assert stalled and dups, "no kill fell between an accept and its record: " + tally
        changed = {r: sorted(ids) for r, ids in ids_of.items() if len(ids) > 1}
        assert not changed, f"duplicates with a new Message-ID: {list(changed.items())[:5]}"
        shared = {m: sorted(rs) for m, rs in rcpts_of.items() if len(rs) > 1}
        assert not shared, f"one Message-ID for several recipients: {list(shared.items())[:5]}"
        # exactly one record each, and the recorded message really arrived
        assert len(recorded) == len(due) and {e for e, _ in recorded} == due
        received = set(got)
        assert all((e, m) in received for e, m in recorded)
        assert pending == 0
    finally:
        sink.stop()


class Counting:
    """An aiosmtpd handler that counts transactions: RCPTs taken (a
    transaction under way) and messages accepted (the end of data seen,
    250 answered), with each accepted message's recipient."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rcpts = 0
        self.accepted = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpts += 1
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.accepted.append(envelope.rcpt_tos[0])
        return "250 2.0.0 Ok: queued"

    def counts(self):
        with self.lock:
            return self.rcpts, len(self.accepted)


@pytest.mark.parametrize("connections", [1, 3])
def test_a_stalled_store_holds_each_session_to_one_unrecorded_accept(tmp_path, connections):
    """The store stalls (the test holds its write lock) mid-send: the
    server may accept at most one message per session beyond what the
    store has recorded, however long the stall, and each session's next
    message is already on the wire, held before its end of data. After
    the stall everything is recorded exactly once."""
    n = 400
    rows = "".join(f"stall{i:04d}@example.org,Stall {i},usa\n" for i in range(n))
    handler = Counting()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    proc = None
    try:
        conf = write_site(tmp_path, "smtp", f"smtp://127.0.0.1:{ctl.port}", extra_rows=rows)
        run(conf, "ingest", check=True)
        # 50 message starts a second: about 75 more accepts in the stall
        # below if nothing held them
        proc = subprocess.Popen([BIN, "-q", "-c", str(conf),
                                 "-o", f"transport.connections={connections}",
                                 "-o", "transport.rate_per_second=50", "send"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while handler.counts()[1] < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert handler.counts()[1] >= 10, "the send did not get going"
        with store_write_lock(tmp_path) as lock:
            # nothing commits from here on: this is what is recorded
            recorded = lock.execute(
                "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'").fetchone()[0]
            time.sleep(1.5)          # under the recorder's 5 s busy timeout
            rcpts, accepted = handler.counts()
        assert proc.poll() is None, "the send ended during the stall: nothing was tested"
        excess = accepted - recorded
        held = rcpts - accepted      # transactions begun, not accepted
        tally = (f"{connections} sessions: {accepted} accepted, {recorded} recorded, "
                 f"{held} held on the wire")
        assert 1 <= excess <= connections, tally
        assert held >= 1, "no message overlapped the stalled record: " + tally
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
        proc.stderr.close()

        db = open_store(tmp_path, readonly=True)
        sent = [e for (e,) in db.execute("SELECT email FROM deliveries WHERE status = 'sent'")]
        db.close()
        got = handler.accepted
        assert len(got) == len(set(got)), "a message was accepted twice"
        assert sorted(got) == sorted(sent)
        due = {s[0] for s in SUBSCRIBERS if expected_urls(s[2])} | \
              {f"stall{i:04d}@example.org" for i in range(n)}
        assert set(sent) == due
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc and proc.stderr and not proc.stderr.closed:
            proc.stderr.close()
        ctl.stop()

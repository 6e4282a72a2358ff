"""A pool of relays and per-domain throttles, against real servers on
127.0.0.1: Postfix's smtp-sink (two of them, one killed mid-run) and
aiosmtpd relays that keep each message they accept (250 after the end of
data) with its arrival time, and can answer 421 for a while, as a relay
being shut down does.

What must hold: every due reader gets exactly one digest, spread over
the relays; a relay that dies or answers 421 loses nothing (the others
take its share) and doubles nothing the server accepted; it is left
alone for [transport] relay_pause and then tried again. A throttled
domain's messages arrive spaced by per_second while other domains' are
not held up behind them; past per_hour, the rest of that domain waits
for the next run, and `send --dry-run` says so as the send does. Every message is parsed with email's policy.default
and its defects checked."""
import asyncio
import email
import email.policy
import json
import os
import subprocess
import threading
import time
from collections import Counter

from aiosmtpd.controller import Controller

from conftest import (BIN, SUBSCRIBERS, Sink, expected_urls, free_port, open_store, parse, run,
                      store_write_lock, write_site)

DUE = {s[0] for s in SUBSCRIBERS if expected_urls(s[2])}


class Relay:
    """An aiosmtpd relay that keeps (arrival time, recipient, bytes) of
    each message it accepts; while `down` is set it answers 421 to MAIL
    (and records when), so nothing is accepted. `delay` slows each
    DATA answer, so a run lasts long enough to act on mid-way."""

    def __init__(self, delay=0.0):
        self.lock = threading.Lock()
        self.accepted = []
        self.refused = []
        self.peers = set()      # the sessions (client address, port) that sent
        self.down = False
        self.delay = delay
        self.ctl = Controller(self, hostname="127.0.0.1", port=free_port())
        self.ctl.start()

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.ctl.port}"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.down:
            with self.lock:
                self.refused.append(time.monotonic())
            return "421 4.3.2 Service shutting down"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.accepted.append((time.monotonic(), envelope.rcpt_tos[0],
                                  envelope.original_content))
            self.peers.add(session.peer)
        return "250 2.0.0 Ok: queued"

    def got(self):
        with self.lock:
            return list(self.accepted)

    def stop(self):
        self.ctl.stop()


def rows(n, domain, prefix="r"):
    return "".join(f"{prefix}{i:03d}@{domain},Reader {i},usa\n" for i in range(n))


def relay_site(tmp_path, relays, transport="", extra="", readers=""):
    """The test site with [relay.NAME] sections (name, url, more lines)
    instead of [transport] url."""
    conf = write_site(tmp_path, "smtp", "smtp://127.0.0.1:1", extra_rows=readers)
    text = conf.read_text(encoding="utf-8")
    assert "url = smtp://127.0.0.1:1\n" in text
    text = text.replace("url = smtp://127.0.0.1:1\n", transport)
    for name, url, more in relays:
        text += f"[relay.{name}]\nurl = {url}\n{more}"
    conf.write_text(text + extra, encoding="utf-8")
    return conf


def throttle_site(tmp_path, relay, throttle, fast=5, relay_more=""):
    """A site sending through relay alone, with 8 readers at slow.test
    under [throttle.slow.test] (its lines: throttle) and `fast` at
    fast.test, beside the test site's own."""
    readers = rows(8, "slow.test", "s") + rows(fast, "fast.test", "f")
    return relay_site(tmp_path, [("only", relay.url, relay_more)],
                      extra=f"[throttle.slow.test]\n{throttle}", readers=readers)


def sent_in_store(tmp_path):
    with open_store(tmp_path, readonly=True) as db:
        return Counter(r[0] for r in db.execute(
            "SELECT email FROM deliveries WHERE status = 'sent'"))


def failed_attempts(tmp_path):
    """Attempts recorded as failed: a failover is not one (nobody refused
    the message), so a relay going down leaves none."""
    with open_store(tmp_path, readonly=True) as db:
        return db.execute("SELECT email, outcome, detail FROM attempts").fetchall()


def digest_rcpts(relay):
    """Recipients of the messages the relay accepted, each message parsed
    strictly (no defects) and checked to be addressed to them."""
    out = []
    for _, rcpt, raw in relay.got():
        msg = parse(raw)
        assert msg["To"].addresses[0].addr_spec == rcpt
        out.append(rcpt)
    return out


def tell(request, line):
    """A measured number on the terminal, as test_crash.py prints its tally."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.write_line(line)


def send_while(conf, action):
    """`send` (after an ingest) while action() runs on a thread, from the
    start; returns send's result once both are done."""
    run(conf, "ingest", check=True)
    t = threading.Thread(target=action)
    t.start()
    try:
        return run(conf, "send", timeout=120)
    finally:
        t.join(timeout=30)


def wait_for(cond, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_two_relays_share_the_readers(tmp_path, request):
    """Four sessions spread by weight (either relay could take all four):
    3 on a, 1 on b; every reader gets exactly one digest. Each relay takes
    0.2 s per message, so sending, not composing, sets the pace and the
    messages follow the sessions."""
    a, b = Relay(delay=0.2), Relay(delay=0.2)
    try:
        conf = relay_site(tmp_path, [("a", a.url, "connections = 4\nweight = 3\n"),
                                     ("b", b.url, "connections = 4\nweight = 1\n")],
                          transport="connections = 4\n", readers=rows(60, "example.org"))
        p = run(conf, "run", timeout=120)
        assert p.returncode == 0, p.stderr
        due = DUE | {f"r{i:03d}@example.org" for i in range(60)}
        assert f"{len(due)} sent" in p.stdout.decode(), p.stdout
        assert "handed to 2 relays" in p.stdout.decode()
        got_a, got_b = digest_rcpts(a), digest_rcpts(b)   # parsed, defects checked
        tell(request, f"relays: weight 3:1 over 4 sessions: a got {len(got_a)} over "
                      f"{len(a.peers)} sessions, b got {len(got_b)} over {len(b.peers)}")
        # the sessions that sent: 3 on a, 1 on b, never more
        assert (len(a.peers), len(b.peers)) == (3, 1), (a.peers, b.peers)
        both = Counter(got_a + got_b)
        assert set(both) == due and set(both.values()) == {1}, both
        # the messages follow: a about 3 times as many
        assert len(got_b) >= 5 and len(got_a) > 1.8 * len(got_b), (len(got_a), len(got_b))
        assert sent_in_store(tmp_path) == Counter(due)
    finally:
        a.stop()
        b.stop()


def test_relay_answering_421_fails_over_and_is_tried_again(tmp_path, request):
    """Relay a answers 421 for 2.5 s mid-run: its messages go to b at
    once (its sessions move there: b has room for all four), nothing is
    lost or accepted twice, a is left alone for the pause (1 s) between
    tries, and after the outage its sessions come back and it takes mail
    again. (The kill test below has the other case: no room elsewhere,
    the sessions wait.)"""
    a, b = Relay(delay=0.02), Relay(delay=0.02)
    try:
        n = 100
        conf = relay_site(tmp_path, [("a", a.url, "connections = 2\n"),
                                     ("b", b.url, "connections = 4\n")],
                          transport="connections = 4\nrelay_pause = 1\n"
                                    "rate_per_second = 20\n",
                          readers=rows(n, "example.org"))
        due = DUE | {f"r{i:03d}@example.org" for i in range(n)}
        outage = {}

        def break_a():
            if not wait_for(lambda: len(a.got()) >= 5, 30):
                return
            a.down = True
            outage["down"] = time.monotonic()
            time.sleep(2.5)
            a.down = False
            outage["up"] = time.monotonic()

        p = send_while(conf, break_a)
        assert p.returncode == 0, p.stderr
        assert "down" in outage and "up" in outage, "the run ended before the outage"
        err = p.stderr.decode()
        assert "relay a:" in err and "paused for 1 s" in err, err

        got = Counter(digest_rcpts(a) + digest_rcpts(b))
        assert set(got) == due and set(got.values()) == {1}, got
        assert sent_in_store(tmp_path) == Counter(due)
        assert failed_attempts(tmp_path) == []

        down, up = outage["down"], outage["up"]
        # b carried the mail while a was down
        assert sum(1 for t_, _, _ in b.got() if down < t_ < up) >= 10
        # a was tried again during the outage only after each pause: the
        # 421s come in bursts (a session each) at least a pause apart
        refused = sorted(a.refused)
        assert refused, "a never answered 421"
        bursts = [refused[0]]
        for x, y in zip(refused, refused[1:]):
            assert y - x < 0.5 or y - x >= 0.9, refused
            if y - x >= 0.9:
                bursts.append(y)
        tell(request, f"relays: a down {up - down:.1f} s, pause 1 s: 421 bursts at "
                      f"{[round(x - down, 2) for x in bursts]} s; b took "
                      f"{sum(1 for t_, _, _ in b.got() if down < t_ < up)} meanwhile")
        assert 2 <= len(bursts) <= 4, refused
        # and after the outage a took mail again
        assert any(t_ > up for t_, _, _ in a.got()), "a was not tried again"
    finally:
        a.stop()
        b.stop()


def test_killed_relay_loses_nothing(tmp_path, request):
    """smtp-sink a is killed mid-run: b takes the rest. Every reader has
    one recorded delivery; a reader reached a twice only if a had their
    data in flight when it died (it never said 250): at most one per
    session of a."""
    a, b = Sink(), Sink()
    try:
        n = 100
        conf = relay_site(tmp_path, [("a", a.url, "connections = 2\n"),
                                     ("b", b.url, "connections = 2\n")],
                          transport="relay_pause = 30\nrate_per_second = 25\n",
                          readers=rows(n, "example.org"))
        due = DUE | {f"r{i:03d}@example.org" for i in range(n)}

        def kill_a():
            if wait_for(lambda: len(os.listdir(a.dumps)) >= 5, 30):
                a.proc.kill()
                a.proc.wait(timeout=10)

        p = send_while(conf, kill_a)
        assert p.returncode == 0, p.stderr
        assert a.proc.returncode is not None
        # a's last dumps may be cut short by the kill: read for the
        # recipient only
        on_a = []
        for name in os.listdir(a.dumps):
            raw = open(os.path.join(a.dumps, name), "rb").read()
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            on_a += [x.strip("<>") for x in msg.get_all("X-Rcpt-Args", [])]
        on_b = [r[0] for r, _, _ in b.messages()]     # strict parse
        # (the dump being written at the kill may lack its recipient:
        # count a's files, not the recipients read from them)
        assert len(os.listdir(a.dumps)) >= 5 and len(on_b) >= n // 2, (len(on_a), len(on_b))
        assert set(on_a) | set(on_b) == due
        assert len(set(on_b)) == len(on_b) and len(set(on_a)) == len(on_a)
        tell(request, f"relays: a killed after {len(on_a)} dumps; b took {len(on_b)}; "
                      f"{len(set(on_a) & set(on_b))} reached both (in flight at the kill)")
        assert len(set(on_a) & set(on_b)) <= 2, set(on_a) & set(on_b)
        assert sent_in_store(tmp_path) == Counter(due)
        # taken over at once, not retried later
        assert failed_attempts(tmp_path) == []
        assert "relay a:" in p.stderr.decode() and "paused for 30 s" in p.stderr.decode()
    finally:
        a.stop()
        b.stop()


def test_every_relay_down_is_a_temporary_failure(tmp_path):
    """Both relays refuse connections: as one dead relay, 75 and the
    digests kept for the next run."""
    conf = relay_site(tmp_path, [("a", f"smtp://127.0.0.1:{free_port()}", ""),
                                 ("b", f"smtp://127.0.0.1:{free_port()}", "")],
                      transport="run_retries = 0\n")
    p = run(conf, "run")
    assert p.returncode == 75, p.stderr
    assert f"{len(DUE)} failed temporarily" in p.stdout.decode(), p.stdout
    assert sent_in_store(tmp_path) == Counter()


def test_throttled_domain_is_paced_and_others_go_on(tmp_path, request):
    """[throttle.slow.test] per_second = 2: its messages arrive at least
    0.5 s apart (measured at the relay), while fast.test's, walked after
    them, are not held up behind them."""
    r = Relay()
    try:
        conf = throttle_site(tmp_path, r, "per_second = 2\n", fast=30,
                             relay_more="connections = 4\n")
        p = run(conf, "run", timeout=120)
        assert p.returncode == 0, p.stderr
        got = r.got()
        digest_rcpts(r)
        slow = sorted(t for t, rc, _ in got if rc.endswith("@slow.test"))
        fast = sorted(t for t, rc, _ in got if rc.endswith("@fast.test"))
        assert len(slow) == 8 and len(fast) == 30
        # The throttle spaces the starts (MAIL FROM); an arrival comes a
        # transaction later, and the first also opened the session
        # (connect, EHLO): its gap to the next may be short by that.
        gaps = [y - x for x, y in zip(slow, slow[1:])]
        tell(request, f"throttle: slow.test gaps {[round(g, 3) for g in gaps]} s; "
                      f"fast.test's 30 done {fast[-1] - slow[0]:.2f} s after the first "
                      f"slow.test, which took {slow[-1] - slow[0]:.2f} s")
        assert min(gaps[1:]) >= 0.45, gaps
        assert gaps[0] >= 0.1, gaps
        # in any one second, at most per_second arrivals and the one a
        # session's setup delayed
        assert max(sum(1 for y in slow if x <= y < x + 1) for x in slow) <= 3, gaps
        assert slow[-1] - slow[0] >= 6 * 0.5 * 0.97
        # not faster than asked on average either way
        assert slow[-1] - slow[0] < 7 * 0.5 + 1.5, gaps
        # fast.test went on meanwhile: done before slow.test's 4th
        assert fast[-1] < slow[3], (fast[-1] - slow[0], [s - slow[0] for s in slow])
    finally:
        r.stop()


def test_hourly_budget_leaves_the_rest_for_the_next_run(tmp_path):
    """per_hour = 3: three of slow.test's 8 readers go out per run (the
    bucket starts full with each process), the others are due again and
    said so; other domains go out at once; nobody gets two."""
    r = Relay()
    try:
        conf = throttle_site(tmp_path, r, "per_hour = 3\n")
        p = run(conf, "run")
        assert p.returncode == 0, p.stderr
        assert "5 held back by a [throttle] per_hour limit" in p.stdout.decode(), p.stdout
        err = p.stderr.decode()
        assert err.count("budget of [throttle.slow.test] per_hour is spent") == 1, err
        rc = Counter(digest_rcpts(r))
        assert sum(1 for x in rc if x.endswith("@slow.test")) == 3
        assert sum(1 for x in rc if x.endswith("@fast.test")) == 5
        assert len(sent_in_store(tmp_path)) == len(DUE) + 5 + 3

        p = run(conf, "send", "--json")
        assert p.returncode == 0, p.stderr
        doc = json.loads(p.stdout)
        assert doc["sent"] == 3 and doc["throttled"] == 2, doc
        p = run(conf, "send")
        assert p.returncode == 0 and "2 sent" in p.stdout.decode(), p.stdout
        p = run(conf, "send")
        assert "nothing new to send" in p.stdout.decode(), p.stdout

        rc = Counter(digest_rcpts(r))
        assert set(rc.values()) == {1}, rc
        assert {x for x in rc if x.endswith("@slow.test")} == \
            {f"s{i:03d}@slow.test" for i in range(8)}
        assert set(sent_in_store(tmp_path).values()) == {1}
    finally:
        r.stop()


def test_dry_run_holds_back_what_the_hourly_budget_would(tmp_path):
    """`send --dry-run` under per_hour = 3 (and per_second = 1) says what
    the real send then does: three of slow.test's 8 readers would go out,
    5 held back, in the same words; a turn per_second only delays is no
    wait in a dry run, which sends and records nothing."""
    r = Relay()
    try:
        conf = throttle_site(tmp_path, r, "per_second = 1\nper_hour = 3\n")
        run(conf, "ingest", check=True)
        due = len(DUE) + 5 + 3
        t0 = time.monotonic()
        p = run(conf, "send", "--dry-run")
        took = time.monotonic() - t0
        out = p.stdout.decode()
        assert p.returncode == 0, p.stderr
        assert f"{due} would be sent" in out, out
        assert "5 held back by a [throttle] per_hour limit (the next run sends them)" in out, out
        err = p.stderr.decode()
        assert err.count("budget of [throttle.slow.test] per_hour is spent") == 1, err
        assert sum(1 for ln in err.splitlines()
                   if "would send to" in ln and "@slow.test" in ln) == 3, err
        assert took < 10, took
        p = run(conf, "send", "--dry-run", "--json")
        assert p.returncode == 0, p.stderr
        doc = json.loads(p.stdout)
        assert doc["would_send"] == due and doc["throttled"] == 5, doc
        assert r.got() == [] and sent_in_store(tmp_path) == Counter()

        p = run(conf, "send", timeout=120)
        assert p.returncode == 0, p.stderr
        out = p.stdout.decode()
        assert f"{due} sent" in out, out
        assert "5 held back by a [throttle] per_hour limit (the next run sends them)" in out, out
    finally:
        r.stop()


def test_stalled_store_bound_holds_across_relays(tmp_path, request):
    """The commit gate is per session, whatever relay it uses: with the
    store stalled (the test holds its write lock) and relay a turning to
    421 meanwhile (its sessions move to b), the relays together accept at
    most one message per session beyond what the store recorded; after
    the stall everything is recorded exactly once."""
    a, b = Relay(), Relay()
    proc = None
    try:
        n = 300
        conf = relay_site(tmp_path, [("a", a.url, "connections = 2\n"),
                                     ("b", b.url, "connections = 4\n")],
                          transport="connections = 4\nrelay_pause = 30\n"
                                    "rate_per_second = 50\n",
                          readers=rows(n, "example.org"))
        run(conf, "ingest", check=True)
        proc = subprocess.Popen([BIN, "-q", "-c", str(conf), "send"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_for(lambda: len(a.got()) >= 5 and len(b.got()) >= 5, 30), \
            "the send did not get going on both relays"
        with store_write_lock(tmp_path) as lock:
            recorded = lock.execute(
                "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'").fetchone()[0]
            a.down = True
            time.sleep(1.5)          # under the recorder's 5 s busy timeout
            accepted = len(a.got()) + len(b.got())
        assert proc.poll() is None, "the send ended during the stall: nothing was tested"
        tell(request, f"relays: store stalled, a down: {accepted} accepted, {recorded} "
                      f"recorded, 4 sessions")
        assert 1 <= accepted - recorded <= 4, (accepted, recorded)
        assert proc.wait(timeout=90) == 0, proc.stderr.read().decode()
        err = proc.stderr.read().decode()
        assert "relay a:" in err, err
        got = Counter(digest_rcpts(a) + digest_rcpts(b))
        due = DUE | {f"r{i:03d}@example.org" for i in range(n)}
        assert set(got) == due and set(got.values()) == {1}, got
        assert sent_in_store(tmp_path) == Counter(due)
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc and proc.stderr:
            proc.stderr.close()
        a.stop()
        b.stop()

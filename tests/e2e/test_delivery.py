"""Delivery you can trust, against real servers on 127.0.0.1: Postfix's
smtp-sink with its fault options (4xx/5xx at each command, disconnects,
421 at the greeting, a reply slower than the timeout), an aiosmtpd server
with STARTTLS, implicit TLS and AUTH (tests/e2e/smtpd_tls.py) behind a
certificate this file makes with openssl, and the sendmail transport with a
stand-in sendmail that records what it was given.

Each case checks the exit code and the stored outcome per subscriber,
read from the store read-only (SQLite or PostgreSQL: conftest.open_store)."""
import os
import pathlib
import signal
import subprocess
import time

import pytest

from conftest import (BIN, SUBSCRIBERS, Sink, expected_urls, free_port, open_store, parse, run,
                      write_site)

HERE = pathlib.Path(__file__).resolve().parent
DUE = sorted(s[0] for s in SUBSCRIBERS if expected_urls(s[2]))   # 4 due, 1 empty


def gen_rows(n, tag="usa"):
    return "".join(f"gen{i:04d}@example.org,Reader {i},{tag}\n" for i in range(n))


def query(tmp_path, sql, *args):
    with open_store(tmp_path, readonly=True) as db:
        return db.execute(sql, args).fetchall()


def sent_to(tmp_path):
    return sorted(r[0] for r in query(tmp_path, "SELECT email FROM deliveries WHERE status = 'sent'"))


def opts(**kv):
    out = []
    for k, v in kv.items():
        out += ["-o", f"transport.{k}={v}"]
    return out


# ---- smtp-sink faults ----------------------------------------------------

def test_tempfail_is_retried_in_run_then_kept_with_its_bytes(tmp_path):
    """4xx at RCPT: two in-run retries (1 s, 4 s), then the exact message
    is kept; the next run resends the same bytes and Message-ID."""
    bad = Sink("-r", "RCPT")
    try:
        conf = write_site(tmp_path, "smtp", bad.url)
        t0 = time.monotonic()
        p = run(conf, *opts(retry_backoff=0), "run")
        took = time.monotonic() - t0
        assert p.returncode == 75, p.stderr
        assert "4 failed temporarily" in p.stdout.decode()
        assert took >= 4.5, took          # 1 s + 4 s of backoff
        pend = query(tmp_path, "SELECT email, state, attempts, message_id, message FROM pending")
        assert sorted(r[0] for r in pend) == DUE
        assert all(r[1] == "retry" and r[2] == 3 for r in pend), pend
        tries = query(tmp_path, "SELECT email, COUNT(*) FROM attempts WHERE outcome = 'tempfail'"
                      " GROUP BY email")
        assert all(n == 3 for _, n in tries) and len(tries) == 4
        assert sent_to(tmp_path) == []
    finally:
        bad.stop()
    stored = {r[0]: (r[3], bytes(r[4])) for r in pend}

    good = Sink()
    try:
        # the same store and config, now pointing at a healthy relay
        p = run(conf, "-o", f"transport.url={good.url}", "send")
        assert p.returncode == 0, p.stderr
        assert "4 sent" in p.stdout.decode()
        msgs = good.messages()
        assert sorted(r[0] for r, _, _ in msgs) == DUE
        for rcpts, msg, raw in msgs:
            mid, body = stored[rcpts[0]]
            assert msg["Message-ID"] == f"<{mid}>"
            # the dump holds the message after smtp-sink's own headers, LF
            assert body.replace(b"\r\n", b"\n") in raw
        assert query(tmp_path, "SELECT COUNT(*) FROM pending") == [(0,)]
        assert sent_to(tmp_path) == DUE
    finally:
        good.stop()


def test_later_run_waits_for_the_backoff(tmp_path):
    s = Sink("-r", "DATA")
    try:
        conf = write_site(tmp_path, "smtp", s.url)
        p = run(conf, *opts(run_retries=0), "run")
        assert p.returncode == 75
        # retry_backoff 300 s: the next run keeps them for later
        p = run(conf, *opts(run_retries=0), "send")
        assert p.returncode == 0, p.stderr
        assert query(tmp_path, "SELECT COUNT(*) FROM attempts") == [(4,)]
        assert s.messages() == []
    finally:
        s.stop()


def test_gives_up_after_max_attempts(tmp_path):
    s = Sink("-r", "MAIL")
    try:
        conf = write_site(tmp_path, "smtp", s.url)
        o = opts(run_retries=0, retry_backoff=0, retry_max_attempts=2)
        assert run(conf, *o, "run").returncode == 75
        p = run(conf, *o, "send")
        assert b"given up after 2 attempts" in p.stderr, p.stderr
        states = query(tmp_path, "SELECT state, length(message) FROM pending")
        assert states == [("expired", 0)] * 4
        # given up for this slot: a third run leaves them alone
        p = run(conf, *o, "send")
        assert p.returncode == 0 and query(tmp_path, "SELECT COUNT(*) FROM attempts") == [(8,)]
    finally:
        s.stop()


@pytest.mark.parametrize("fault", [("-q", "RCPT"), ("-Q", "DATA"), ("-Q", "CONNECT"),
                                   ("-r", "DATA")])
def test_drops_and_421_are_temporary(tmp_path, fault):
    s = Sink(*fault)
    try:
        conf = write_site(tmp_path, "smtp", s.url)
        p = run(conf, *opts(run_retries=0), "run")
        assert p.returncode == 75, p.stderr
        assert "4 failed temporarily" in p.stdout.decode()
        assert sorted(r[0] for r in query(tmp_path, "SELECT email FROM pending"
                                          " WHERE state = 'retry'")) == DUE
        assert sent_to(tmp_path) == []
    finally:
        s.stop()


def test_reply_slower_than_the_timeout_is_temporary(tmp_path):
    s = Sink("-w", "3")       # DATA answered after 3 s; the timeout is 1 s
    try:
        conf = write_site(tmp_path, "smtp", s.url)
        p = run(conf, *opts(run_retries=0, timeout=1, max_consecutive_tempfails=2), "run")
        assert p.returncode == 75, p.stderr
        assert b"timed out" in p.stderr.lower() or b"timeout" in p.stderr.lower(), p.stderr
        assert sent_to(tmp_path) == []
    finally:
        s.stop()


def test_many_tempfails_stop_the_run_early(tmp_path):
    conf = write_site(tmp_path, "smtp", f"smtp://127.0.0.1:{free_port()}",
                      extra_rows=gen_rows(40))
    p = run(conf, *opts(run_retries=0, max_consecutive_tempfails=5), "run")
    assert p.returncode == 75
    assert b"stopped after 5 temporary failures in a row" in p.stderr, p.stderr
    n = query(tmp_path, "SELECT COUNT(*) FROM attempts")[0][0]
    assert 5 <= n <= 8, n        # not 44: it stopped hammering


def test_permanent_failures_close_the_slot_then_suppress(tmp_path):
    s = Sink("-f", "RCPT")
    try:
        conf = write_site(tmp_path, "smtp", s.url)
        for k in (3, 2, 1):     # three slots that have just passed
            t = time.gmtime(time.time() - k * 60)
            slot = ["-o", f"schedule.day={time.strftime('%A', t).lower()}",
                    "-o", f"schedule.time={time.strftime('%H:%M', t)}",
                    "-o", "schedule.timezone=UTC"]
            p = run(conf, *slot, *opts(max_permanent_failures=3), "run")
            assert p.returncode == 0, p.stderr
            assert "4 failed permanently" in p.stdout.decode(), p.stdout
            assert (b"suppressed after 3 permanent failures" in p.stderr) == (k == 1)
            # the same slot again: refused already, not retried
            again = run(conf, *slot, "send")
            assert "failed permanently" not in again.stdout.decode()
        bounced = query(tmp_path, "SELECT email, reason, detail FROM suppressions")
        assert sorted(r[0] for r in bounced) == DUE
        assert all(r[1] == "bounced" and r[2].startswith("5") for r in bounced), bounced
        st = run(conf, "status", check=True).stdout.decode()
        assert "bounced" in st
        # lifted by unsuppress
        run(conf, "unsuppress", DUE[0], check=True)
        assert DUE[0] not in [r[0] for r in query(tmp_path, "SELECT email FROM suppressions")]
    finally:
        s.stop()


def test_parallel_sessions_reuse_and_reconnect(tmp_path):
    s = Sink("-v")
    try:
        conf = write_site(tmp_path, "smtp", s.url, extra_rows=gen_rows(36))
        p = run(conf, *opts(connections=4, max_messages_per_connection=5), "run")
        assert p.returncode == 0, p.stderr
        msgs = s.messages()
        rcpts = [r[0] for r, _, _ in msgs]
        assert len(rcpts) == 40 and len(set(rcpts)) == 40
        assert all(len(r) == 1 for r, _, _ in msgs)
        assert len(sent_to(tmp_path)) == 40
        s.proc.terminate()       # flushes the transcript
        s.proc.wait(timeout=10)
        log = open(os.path.join(s.dir, "sink.log"), encoding="latin-1").read()
        sessions = log.count("connect (AF_INET") - 1   # minus the start-up probe
        # 40 messages, at most 5 per session: at least 8 sessions, and far
        # fewer than one per message
        assert 8 <= sessions <= 16, sessions
    finally:
        s.stop()


def test_rate_limit(tmp_path, sink):
    conf = write_site(tmp_path, "smtp", sink.url, extra_rows=gen_rows(16))
    t0 = time.monotonic()
    p = run(conf, *opts(rate_per_second=10, connections=2), "run")
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert len(sink.messages()) == 20
    assert took >= 1.8, took


def test_sigterm_finishes_in_flight_and_exits_75(tmp_path):
    s = Sink("-w", "1")     # each DATA takes a second
    try:
        conf = write_site(tmp_path, "smtp", s.url, extra_rows=gen_rows(20))
        run(conf, "ingest", check=True)
        proc = subprocess.Popen([BIN, "-c", str(conf), *opts(connections=2), "send"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(os.listdir(s.dumps)) < 2:
                time.sleep(0.05)
            time.sleep(0.3)       # two messages in flight now
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 75, err
        assert b"interrupted by SIGTERM" in err, err
        got = sorted(r[0] for r, _, _ in s.messages())
        # what arrived is exactly what is recorded: in flight was finished
        assert got == sent_to(tmp_path)
        assert 2 <= len(got) < 24
        p = run(conf, "send")
        assert p.returncode == 0, p.stderr
        rc = [r[0] for r, _, _ in s.messages()]
        assert len(rc) == 24 and len(set(rc)) == 24
    finally:
        s.stop()


def test_dkim_signed_and_resent_as_signed(tmp_path):
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(key)], check=True, capture_output=True)
    os.chmod(key, 0o600)
    dk = ["-o", "dkim.domain=news.test", "-o", "dkim.selector=td", "-o", f"dkim.key_file={key}"]
    bad = Sink("-r", "RCPT")
    try:
        conf = write_site(tmp_path, "smtp", bad.url)
        assert run(conf, *dk, *opts(run_retries=0, retry_backoff=0), "run").returncode == 75
    finally:
        bad.stop()
    stored = {r[0]: bytes(r[1]) for r in query(tmp_path, "SELECT email, message FROM pending")}
    assert all(m.startswith(b"DKIM-Signature:") for m in stored.values())
    good = Sink()
    try:
        p = run(conf, *dk, "-o", f"transport.url={good.url}", "send")
        assert p.returncode == 0, p.stderr
        for rcpts, msg, raw in good.messages():
            assert "d=news.test" in msg["DKIM-Signature"] and "s=td" in msg["DKIM-Signature"]
            assert stored[rcpts[0]].replace(b"\r\n", b"\n") in raw
    finally:
        good.stop()


# ---- STARTTLS, implicit TLS and AUTH (aiosmtpd) ---------------------------

@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("cert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "2",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


class TLSServer:
    def __init__(self, tmp, cert, *args):
        self.port = free_port()
        self.dump = tmp / "tls-dump"
        self.dump.mkdir()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(HERE / "smtpd_tls.py"), "--port", str(self.port),
             "--cert", str(cert[0]), "--key", str(cert[1]), "--dump", str(self.dump), *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline()
        if b"READY" not in line:
            self.stop()
            raise RuntimeError("smtpd_tls.py did not start")

    def messages(self):
        out = []
        for f in sorted(self.dump.glob("*.eml")):
            raw = f.read_bytes()
            head, _, body = raw.partition(b"\n")
            rest = body.split(b"\n", 1)
            out.append((rest[0].split(b": ", 1)[1].decode(), parse(rest[1])))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tls_run(tmp_path, url, *extra, env=None):
    conf = write_site(tmp_path, "smtp", url)
    return conf, run(conf, *extra, "run", env=env)


def test_starttls_auth_good_password(tmp_path, cert):
    srv = TLSServer(tmp_path, cert, "--user", "digest", "--password", "s3cret")
    try:
        conf, p = tls_run(tmp_path, f"smtp://127.0.0.1:{srv.port}",
                          *opts(username="digest", password_env="TD_TEST_PW",
                                ca_file=cert[0], connections=2),
                          env={"TD_TEST_PW": "s3cret"})
        assert p.returncode == 0, p.stderr
        assert sorted(r for r, _ in srv.messages()) == DUE
        assert sent_to(tmp_path) == DUE
    finally:
        srv.stop()


def test_starttls_password_file(tmp_path, cert):
    srv = TLSServer(tmp_path, cert, "--user", "digest", "--password", "s3cret")
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    os.chmod(pw, 0o600)
    try:
        conf, p = tls_run(tmp_path, f"smtp://127.0.0.1:{srv.port}",
                          *opts(username="digest", password_file=pw, ca_file=cert[0]))
        assert p.returncode == 0, p.stderr
        assert len(srv.messages()) == 4
    finally:
        srv.stop()


def test_wrong_password_stops_with_78(tmp_path, cert):
    srv = TLSServer(tmp_path, cert, "--user", "digest", "--password", "s3cret")
    try:
        conf, p = tls_run(tmp_path, f"smtp://127.0.0.1:{srv.port}",
                          *opts(username="digest", password_env="TD_TEST_PW",
                                ca_file=cert[0]), env={"TD_TEST_PW": "wrong"})
        assert p.returncode == 78, p.stderr
        err = p.stderr.decode()
        assert "send: stopped" in err and "transport.username" in err and "password" in err
        assert err.count(": fatal: ") == 1
        assert srv.messages() == [] and sent_to(tmp_path) == []
        assert query(tmp_path, "SELECT outcome FROM attempts") == [("fatal",)]
        assert query(tmp_path, "SELECT COUNT(*) FROM pending") == [(0,)]
    finally:
        srv.stop()


def test_starttls_required_but_not_offered(tmp_path, cert):
    srv = TLSServer(tmp_path, cert, "--no-starttls")
    try:
        conf, p = tls_run(tmp_path, f"smtp://127.0.0.1:{srv.port}",
                          *opts(starttls="required"))
        assert p.returncode == 78, p.stderr
        assert b"STARTTLS" in p.stderr, p.stderr
        assert srv.messages() == [] and sent_to(tmp_path) == []
        # the same server is fine for a local relay without TLS
        p = run(conf, *opts(starttls="off"), "send")
        assert p.returncode == 0, p.stderr
        assert sent_to(tmp_path) == DUE
    finally:
        srv.stop()


def test_untrusted_certificate(tmp_path, cert):
    srv = TLSServer(tmp_path, cert)
    try:
        conf, p = tls_run(tmp_path, f"smtp://127.0.0.1:{srv.port}", *opts(starttls="required"))
        assert p.returncode == 78, p.stderr
        assert b"transport.ca_file" in p.stderr, p.stderr
        assert srv.messages() == [] and sent_to(tmp_path) == []
    finally:
        srv.stop()


def test_smtps_implicit_tls(tmp_path, cert):
    srv = TLSServer(tmp_path, cert, "--smtps", "--user", "digest", "--password", "s3cret")
    try:
        conf, p = tls_run(tmp_path, f"smtps://127.0.0.1:{srv.port}",
                          *opts(username="digest", password_env="TD_TEST_PW",
                                ca_file=cert[0], ehlo="out.news.test"),
                          env={"TD_TEST_PW": "s3cret"})
        assert p.returncode == 0, p.stderr
        assert sorted(r for r, _ in srv.messages()) == DUE
    finally:
        srv.stop()


# ---- sendmail ---------------------------------------------------------------

FAKE_SENDMAIL = """#!/usr/bin/python3
import os, sys
d = os.environ.get("FAKE_SENDMAIL_DIR") or %r
n = len(os.listdir(d))
with open(os.path.join(d, "%%04d" %% n), "wb") as f:
    f.write(repr(sys.argv[1:]).encode() + b"\\n" + sys.stdin.buffer.read())
code = int(open(os.path.join(os.path.dirname(d), "exitcode")).read())
if code:
    sys.stderr.write("fake sendmail: failing with %%d\\n" %% code)
sys.exit(code)
"""


def fake_sendmail(tmp_path, code):
    box = tmp_path / "sm" / "box"
    box.mkdir(parents=True)
    (tmp_path / "sm" / "exitcode").write_text(str(code))
    prog = tmp_path / "sm" / "sendmail"
    prog.write_text(FAKE_SENDMAIL % str(box))
    os.chmod(prog, 0o755)
    return prog, box


def test_sendmail_transport(tmp_path):
    prog, box = fake_sendmail(tmp_path, 0)
    conf = write_site(tmp_path, "maildir")
    p = run(conf, *opts(type="sendmail", sendmail_path=prog), "run")
    assert p.returncode == 0, p.stderr
    calls = sorted(box.iterdir())
    assert len(calls) == 4
    rcpts = []
    for c in calls:
        args, _, body = c.read_bytes().partition(b"\n")
        args = eval(args)           # the repr written by the stand-in
        assert args[:4] == ["-oi", "-f", "digest@news.test", "--"] and len(args) == 5
        rcpts.append(args[4])
        assert b"\r\n" not in body  # local submission: LF line ends
        parse(body)
    assert sorted(rcpts) == DUE
    assert sent_to(tmp_path) == DUE


@pytest.mark.parametrize("code,rc,kind", [(67, 0, "permfail"), (75, 75, "tempfail"),
                                          (71, 75, "tempfail"), (65, 0, "permfail")])
def test_sendmail_exit_codes(tmp_path, code, rc, kind):
    prog, box = fake_sendmail(tmp_path, code)
    conf = write_site(tmp_path, "maildir")
    p = run(conf, *opts(type="sendmail", sendmail_path=prog, run_retries=0), "run")
    assert p.returncode == rc, p.stderr
    outcomes = query(tmp_path, "SELECT outcome, detail FROM attempts")
    assert len(outcomes) == 4 and {o for o, _ in outcomes} == {kind}, outcomes
    assert all(f"exit {code}: fake sendmail: failing with {code}" in d for _, d in outcomes)
    assert sent_to(tmp_path) == []


def test_sendmail_missing_is_a_config_error(tmp_path):
    conf = write_site(tmp_path, "maildir")
    p = run(conf, *opts(type="sendmail", sendmail_path=tmp_path / "nope"), "run")
    assert p.returncode == 78, p.stderr
    assert b"transport.sendmail_path" in p.stderr

"""End to end through SMTP: ingest the test site, send into Postfix's
smtp-sink, and read every message back with Python's email package."""
import hashlib
import os
import subprocess
import time

import pytest

from conftest import (BACKEND, BIN, SUBSCRIBERS, expected_urls, open_store, run, store_dump,
                      write_site)
from digestcheck import check_digest


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_digests_over_smtp(tmp_path, sink):
    conf = write_site(tmp_path, "smtp", sink.url)
    run(conf, "ingest", check=True)

    previews = {}
    for addr, _, _ in SUBSCRIBERS:
        text = run(conf, "preview", "--to", addr, "--format", "text", check=True).stdout
        html = run(conf, "preview", "--to", addr, "--format", "html", check=True).stdout
        previews[addr] = (text, html)

    p = run(conf, "send", check=True)
    out = p.stdout.decode()
    due = [s for s in SUBSCRIBERS if expected_urls(s[2])]
    assert f"{len(due)} sent" in out and "1 skipped" in out, out

    msgs = sink.messages()
    assert len(msgs) == len(due)
    seen_ids = set()
    by_rcpt = {}
    for rcpts, msg, _ in msgs:
        assert len(rcpts) == 1          # one recipient per transaction
        by_rcpt[rcpts[0]] = msg
        assert msg["Message-ID"] not in seen_ids
        seen_ids.add(msg["Message-ID"])
    assert set(by_rcpt) == {s[0] for s in due}
    for sub in due:
        text, html = previews[sub[0]]
        check_digest(by_rcpt[sub[0]], sub, text, html, line_end=b"\n")

    # the same slot again: nothing more goes out, and it says so
    p = run(conf, "send", check=True)
    assert "nothing new to send" in p.stdout.decode()
    assert len(sink.messages()) == len(due)

    # status reads without writing; every subscriber is listed
    store = tmp_path / "var" / "store.db"
    def snapshot():   # SQLite: the file's bytes; PostgreSQL: what it holds
        return store_dump(tmp_path) if BACKEND == "postgres" else sha(store)
    before = snapshot()
    p = run(conf, "status", check=True)
    for addr, _, _ in SUBSCRIBERS:
        assert addr in p.stdout.decode()
    # preview leaves the store byte-identical
    run(conf, "preview", "--to", SUBSCRIBERS[0][0], check=True)
    run(conf, "send", "--dry-run", check=True)
    assert snapshot() == before
    assert not os.path.exists(str(store) + "-wal") or os.path.getsize(str(store) + "-wal") == 0


def test_edit_and_new_post_next_week(tmp_path, sink):
    """An edited post is not announced again; a new one is, to its tag's
    followers only. The next week is simulated by moving the slot."""
    conf = write_site(tmp_path, "smtp", sink.url)
    run(conf, "run", check=True)
    first = len(sink.messages())
    post = tmp_path / "posts" / "a.md"
    post.write_text(post.read_text(encoding="utf-8").replace("First paragraph", "Edited paragraph"),
                    encoding="utf-8")
    (tmp_path / "posts" / "g.md").write_text(
        "---\ntitle: Fresh NATO news\ndate: 2026-11-27T10:00:00Z\ntags: [NATO]\n"
        "url: https://news.test/p/g/\nauthor: Desk\n---\nBody of the fresh post.\n", encoding="utf-8")
    p = run(conf, "ingest", check=True)
    assert "1 new, 1 updated" in p.stdout.decode()
    # a slot that has just passed: every subscriber is due again
    now = time.gmtime()
    slot = ["-o", f"schedule.day={time.strftime('%A', now).lower()}",
            "-o", f"schedule.time={time.strftime('%H:%M', now)}", "-o", "schedule.timezone=UTC"]
    run(conf, *slot, "send", check=True)
    msgs = sink.messages()
    assert len(msgs) == first + 1
    # dump names are random, so find the new message by its content
    fresh = [(r, m) for r, m, _ in msgs
             if "https://news.test/p/g/" in m.get_body(("plain",)).get_content()]
    assert [r for r, _ in fresh] == [["zoe@example.net"]]
    text = fresh[0][1].get_body(("plain",)).get_content()
    assert "https://news.test/p/a/" not in text and "https://news.test/p/b/" not in text


def test_bad_rows_are_reported_and_skipped(tmp_path, sink):
    extra = ('not an address,Bad Row,nato\n'
             '"evil@example.org","Evil\r\nBcc: victim@example.com",nato\n'
             'long@example.org,' + "N" * 300 + ',nato\n')
    conf = write_site(tmp_path, "smtp", sink.url, extra_rows=extra)
    p = run(conf, "run", check=True)
    err = p.stderr.decode()
    # first bad row is line 7 of the file (header + 5 subscribers)
    assert "subscribers.csv:7" in err and "subscribers.csv:8" in err, err
    rcpts = [r[0] for r, _, _ in sink.messages()]
    assert "evil@example.org" not in rcpts and "victim@example.com" not in rcpts
    assert "zoe@example.net" in rcpts
    for _, _, raw in sink.messages():
        assert b"Bcc:" not in raw
    # a 300-character name breaks the one rule for names: a bad row like
    # the others, never accepted and then refused by the MIME builder
    # (line 10: the quoted CR LF above spans two lines)
    assert "subscribers.csv:10: name is longer than 256 bytes (300)" in err, err
    assert "not sent" not in err
    assert "long@example.org" not in rcpts


@pytest.mark.sqlite_only("the run lock is the store file's; senders on PostgreSQL share the list")
def test_concurrent_run_is_refused(tmp_path, slow_sink):
    conf = write_site(tmp_path, "smtp", slow_sink.url)
    first = subprocess.Popen([BIN, "-c", str(conf), "run"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        # the first run holds the lock while smtp-sink stalls each DATA for 2 s
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not os.path.exists(tmp_path / "var" / "store.db.lock"):
            time.sleep(0.05)
        time.sleep(0.5)
        second = run(conf, "run")
        assert second.returncode == 75, second.stderr
        assert b"another tagdigest run is in progress" in second.stderr
        assert second.stdout == b""
    finally:
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    # the refused run sent nothing: one message per due subscriber
    due = [s for s in SUBSCRIBERS if expected_urls(s[2])]
    assert len(slow_sink.messages()) == len(due)


def test_rejected_recipient_is_not_marked_sent(tmp_path):
    from conftest import Sink
    s = Sink("-f", "RCPT")   # 5xx on every RCPT
    try:
        conf = write_site(tmp_path, "smtp", s.url)
        p = run(conf, "run")
        assert p.returncode == 0, p.stderr
        assert "failed permanently" in p.stdout.decode()
        assert s.messages() == []
        # nothing was recorded as sent: the store holds no delivery, and
        # status shows each refusal for this week (next week they are tried
        # again, counted as consecutive bounces)
        with open_store(tmp_path, readonly=True) as db:
            assert db.execute("SELECT COUNT(*) FROM deliveries"
                              " WHERE status = 'sent'").fetchone() == (0,)
        st = run(conf, "status", check=True).stdout.decode()
        assert st.count("refused this week") == 4, st
        assert st.count("1 bounce in a row") == 4, st
    finally:
        s.stop()


def test_unreachable_server_means_try_later(tmp_path):
    from conftest import free_port
    conf = write_site(tmp_path, "smtp", f"smtp://127.0.0.1:{free_port()}")
    p = run(conf, "run")
    assert p.returncode == 75, p.stderr
    assert "failed temporarily" in p.stdout.decode()


def test_refused_sender_stops_the_run(tmp_path):
    """5xx at MAIL is our problem, not the subscriber's: the run stops at
    the first message with 75, and nobody is marked as bounced or sent."""
    from conftest import Sink
    s = Sink("-f", "MAIL")
    try:
        conf = write_site(tmp_path, "smtp", s.url)
        p = run(conf, "run")
        assert p.returncode == 75, p.stderr
        err = p.stderr.decode()
        assert "send: stopped" in err and "MAIL" in err, err
        assert err.count(": fatal: ") == 1          # stopped at the first
        assert "0 sent" in p.stdout.decode() and " 0 failed permanently" in p.stdout.decode()
        assert s.messages() == []
        st = run(conf, "status", check=True).stdout.decode()
        # stopped before anyone was recorded, even the empty digest
        assert st.count("due now") == len(SUBSCRIBERS)
    finally:
        s.stop()

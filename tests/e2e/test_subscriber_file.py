"""The subscriber file as editors treat it, end to end: saved in place
while a long send runs (as nano does: the same inode truncated and written
again), rewritten without pause while a send starts, and holding a name
longer than a header allows. Every message is read back with Python's email
parser, every outcome from the store (SQLite, read-only)."""
import os
import re
import subprocess
import sys
import time

from conftest import BIN, SUBSCRIBERS, Sink, expected_urls, open_store, parse, run, write_site

POST_URL = re.compile(r"https://news\.test/p/[a-z]+/")


def version(letter, rows, pad, tag):
    """A subscriber file well past the 64 KiB the reader used to read at a
    time. Each version has its own addresses, names, tag and row length,
    so a row spliced from two versions reads as neither."""
    lines = ["email,name,tags,note"]
    for i in range(rows):
        lines.append(f"{letter}{i:04d}@example.org,{letter.upper()} Reader {i},{tag},"
                     + letter * pad)
    data = ("\n".join(lines) + "\n").encode()
    assert len(data) > 65536
    return data, {f"{letter}{i:04d}@example.org": f"{letter.upper()} Reader {i}"
                  for i in range(rows)}, tag


A = version("a", 300, 240, "usa")
B = version("b", 330, 190, "iran")


def query(tmp_path, sql):
    with open_store(tmp_path, readonly=True) as db:
        return db.execute(sql).fetchall()


def check_delivered(tmp_path, msgs, ver, also=()):
    """msgs: (recipient, parsed message). Every digest went to a subscriber
    of version `ver`, named and tagged as in that version, each exactly
    once, all of them; and the store moved the watermark of exactly those
    who got theirs (plus `also`, delivered by an earlier run)."""
    _, names, tag = ver
    urls = expected_urls([tag])
    got = set()
    for rcpt, msg in msgs:
        to = msg["To"].addresses[0]
        assert to.addr_spec == rcpt
        assert rcpt in names, f"a digest to {rcpt!r}, who is not in the version read at the start"
        assert to.display_name == names[rcpt], (rcpt, to.display_name)
        text = msg.get_body(("plain",)).get_content()
        assert set(POST_URL.findall(text)) == urls, rcpt
        assert rcpt not in got, f"two digests to {rcpt}"
        got.add(rcpt)
    assert got == set(names), f"{len(set(names) - got)} subscribers got nothing"
    sent = {e for (e,) in query(tmp_path, "SELECT email FROM deliveries WHERE status = 'sent'")}
    assert sent == got | set(also)
    moved = {e for e, w in query(tmp_path, "SELECT email, watermark FROM subscriber_state")
             if w > 0}
    assert moved == got | set(also), sorted(moved - got - set(also))[:5]


def test_file_saved_in_place_while_send_runs(tmp_path):
    """A rate-limited send works from the file as it was when it started,
    whatever is saved meanwhile, and says the changes wait for the next
    run, which then sends to the new version."""
    sink = Sink()
    try:
        conf = write_site(tmp_path, "smtp", sink.url)
        csv = tmp_path / "subscribers.csv"
        csv.write_bytes(A[0])
        run(conf, "ingest", check=True)
        inode = csv.stat().st_ino
        proc = subprocess.Popen([BIN, "-c", str(conf), "-o", "transport.rate_per_second=40",
                                 "send"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # once it is delivering, save the other version in place
            deadline = time.monotonic() + 60
            while (len(os.listdir(sink.dumps)) < 10 and proc.poll() is None
                   and time.monotonic() < deadline):
                time.sleep(0.05)
            assert proc.poll() is None, "send ended before the file was saved"
            with open(csv, "r+b") as f:
                f.truncate(0)
                f.write(B[0][:40000])      # in two writes, as editors flush
                f.flush()
                f.write(B[0][40000:])
            assert csv.stat().st_ino == inode
            out, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        msgs = [(r[0], m) for r, m, _ in sink.messages()]
        check_delivered(tmp_path, msgs, A)
        assert proc.returncode == 0, err.decode()
        assert "300 sent" in out.decode(), out.decode()
        assert b"changed while this run was sending" in err, err.decode()
        assert b"apply from the next run" in err

        # the next run reads the file as saved
        before = {name for name in os.listdir(sink.dumps)}
        p = run(conf, "send", check=True, timeout=180)
        assert b"changed while" not in p.stderr
        new = [(r[0], m) for r, m, raw in sink.messages()]
        new = [(r, m) for r, m in new if r.startswith("b")]
        assert len(os.listdir(sink.dumps)) - len(before) == len(B[1])
        check_delivered(tmp_path, new, B, also=A[1])
    finally:
        sink.stop()


WRITER = r"""
import sys, time
path, a, b, stop = sys.argv[1:5]
versions = [open(a, "rb").read(), open(b, "rb").read()]
end = time.monotonic() + 30
i = 0
while time.monotonic() < end:
    try:
        open(stop).close()
        break
    except FileNotFoundError:
        pass
    data = versions[i % 2]
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data[:len(data) // 2])
        f.flush()
        f.write(data[len(data) // 2:])
    i += 1
"""


def test_file_rewritten_without_pause(tmp_path):
    """A writer rewrites the file in place, again and again, while send
    starts: send refuses with 75 and says to run again, or works from one
    whole version; never from a mix."""
    conf = write_site(tmp_path, "maildir")
    csv = tmp_path / "subscribers.csv"
    csv.write_bytes(A[0])
    (tmp_path / "a.csv").write_bytes(A[0])
    (tmp_path / "b.csv").write_bytes(B[0])
    stop = tmp_path / "stop"
    run(conf, "ingest", check=True)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(csv), str(tmp_path / "a.csv"),
                               str(tmp_path / "b.csv"), str(stop)])
    try:
        time.sleep(0.3)
        assert writer.poll() is None
        p = run(conf, "send", timeout=120)
    finally:
        stop.touch()
        try:
            writer.wait(timeout=10)
        except subprocess.TimeoutExpired:
            writer.kill()
            writer.wait(timeout=10)
    files = list((tmp_path / "outbox" / "new").iterdir()) \
        if (tmp_path / "outbox" / "new").exists() else []
    msgs = []
    for f in files:
        msg = parse(f.read_bytes())
        msgs.append((msg["To"].addresses[0].addr_spec, msg))
    if p.returncode == 75:
        err = p.stderr.decode()
        assert "subscribers.csv: not read: " in err and "run again once it is saved" in err, err
        assert msgs == []
        assert query(tmp_path, "SELECT COUNT(*) FROM deliveries") == [(0,)]
    else:
        assert p.returncode == 0, p.stderr.decode()
        ver = A if msgs and msgs[0][0].startswith("a") else B
        check_delivered(tmp_path, msgs, ver)


def test_name_too_long_is_one_bad_row_not_a_failed_send(tmp_path):
    """A name over the one limit for display names is reported by the CSV
    reader, once per run, with file and line; it is never accepted and then
    failed by the MIME builder as a permanent failure on every run."""
    long_name = "Nikolai " + "N" * 292                         # 300 bytes
    conf = write_site(tmp_path, "maildir",
                      extra_rows=f"long@example.org,{long_name},usa\n")
    line = len(SUBSCRIBERS) + 2
    want = f"subscribers.csv:{line}: name is longer than 256 bytes (300)"
    for cmd in ("run", "send"):
        p = run(conf, cmd)
        err = p.stderr.decode()
        assert p.returncode == 0, err
        assert err.count(want) == 1, err
        assert "long@example.org" not in err, err
        assert query(tmp_path, "SELECT COUNT(*) FROM attempts WHERE email = 'long@example.org'"
                     ) == [(0,)]
        assert query(tmp_path, "SELECT COUNT(*) FROM pending") == [(0,)]
    due = [s for s in SUBSCRIBERS if expected_urls(s[2])]
    files = list((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == len(due)
    for f in files:
        assert parse(f.read_bytes())["To"].addresses[0].addr_spec != "long@example.org"
    # status and preview read the file with the same rule
    p = run(conf, "preview", "--to", "long@example.org")
    assert p.returncode != 0 and want in p.stderr.decode()

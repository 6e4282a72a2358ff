"""The PostgreSQL test server fixture (tests/pg_server.py) itself: the
store's tests on PostgreSQL are only as good as the server they get, and a
fixture that leaves servers behind fills a shared machine.

- a PgServer gives each create_database() a database of its own, and after
  the with-block nothing listens on its port and its folder is gone;
- `pg_server.py run -- CMD` gives CMD TD_TEST_PG_URL, passes on CMD's exit
  status, and stops the server;
- when the fixture process is SIGKILLed (a runner's timeout), its reaper
  still stops the server and removes the folder;
- when pg_ctl cannot stop the server (or cannot run at all), the
  postmaster is killed: nothing is left listening.
"""
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

TESTS = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
import pg_server  # noqa: E402

SCRIPT = str(TESTS / "pg_server.py")

pytestmark = pytest.mark.skipif(
    not os.access(f"{pg_server.PG_BIN}/initdb", os.X_OK),
    reason="PostgreSQL 15 not installed (postgresql-15, the Makefile's DEB_TEST)")


def listening(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def gone_within(port, folder, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not listening(port) and not os.path.exists(folder):
            return True
        time.sleep(0.2)
    return False


def psql(url, sql):
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                           "-d", url, "-c", sql], capture_output=True, text=True,
                          timeout=60)


def test_databases_apart_and_server_stopped():
    with pg_server.PgServer() as pg:
        folder, port = pg.dir, pg.port
        a, b = pg.create_database(), pg.create_database()
        assert a != b
        assert re.fullmatch(rf"postgresql://postgres@127\.0\.0\.1:{port}/td_[0-9a-f]{{12}}", a)
        assert psql(a, "CREATE TABLE only_here (x int)").returncode == 0
        r = psql(b, "SELECT count(*) FROM only_here")
        assert r.returncode != 0 and "does not exist" in r.stderr
        if os.geteuid() == 0:
            # the server runs as nobody, not as root
            assert os.stat(pg.data).st_uid == pg_server.pwd.getpwnam("nobody").pw_uid
        assert listening(port)
    assert gone_within(port, folder, 5)


def test_run_passes_url_and_status():
    r = subprocess.run([sys.executable, SCRIPT, "run", "--", "sh", "-c",
                        'psql -X -A -t -d "$TD_TEST_PG_URL" -c "SELECT 40 + 2" && exit 7'],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 7, r.stderr
    assert r.stdout.strip() == "42"
    m = re.search(r"at (postgresql://\S+:(\d+)/\S+)", r.stderr)
    assert m, r.stderr
    assert not listening(int(m.group(2)))


def test_reaper_stops_the_server_after_sigkill():
    p = subprocess.Popen([sys.executable, SCRIPT, "run", "--", "sleep", "60"],
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = p.stderr.readline()  # "pg_server: PostgreSQL 15 at URL (ready ...)"
        m = re.search(r":(\d+)/", line)
        assert m, line
        port = int(m.group(1))
        assert listening(port)
        folders = [d for d in pathlib.Path("/tmp").glob("td-pg-*")
                   if (d / f".s.PGSQL.{port}").exists()]
        assert len(folders) == 1
        # the whole group: the fixture and its sleep, not the reaper
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        assert gone_within(port, str(folders[0]), 30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
        p.stderr.close()


def test_stop_kills_when_pg_ctl_cannot_run(monkeypatch):
    pg = pg_server.PgServer().start()
    folder, port, pid = pg.dir, pg.port, pg._postmaster_pid()
    try:
        assert listening(port) and pid
        # the stop's pg_ctl is not there: the postmaster is killed instead
        monkeypatch.setattr(pg_server, "PG_BIN", "/nonexistent/postgresql/bin")
        pg.stop()
        assert gone_within(port, folder, 5)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        monkeypatch.undo()
        if pg.dir:
            pg.stop()
        if pid and listening(port):
            os.kill(pid, signal.SIGKILL)  # a stop that failed leaves none behind

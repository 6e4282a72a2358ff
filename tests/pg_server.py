#!/usr/bin/python3
"""pg_server.py: a throwaway PostgreSQL 15 for the tests (standard library only).

initdb into a temporary folder, start on a free loopback port (and a Unix
socket in that folder), create databases, stop with `pg_ctl -m fast` (a
kill when that does not end in time) and remove the folder. Every wait is
bounded. initdb and pg_ctl refuse to run as root, so under root (CI) the
server runs as the unprivileged user `nobody`; the clients (psql, the C
tests, tagdigest) may stay root: the cluster trusts every local login
(`--auth=trust`), which is fine for a server that lives in /tmp for one
test run and listens on 127.0.0.1 only.

Three ways to use it:

    from pg_server import PgServer          # tests/ on sys.path
    with PgServer() as pg:
        url = pg.create_database()          # a fresh, uniquely named database
        ...                                 # postgresql://postgres@127.0.0.1:PORT/NAME

    # pytest: the fixtures at the bottom (pg_server: one server per session,
    # pg_url: a fresh database per test); import them into a conftest.py.

    python3 tests/pg_server.py run -- CMD ARGS...
        starts a server, creates one database, runs CMD with
        TD_TEST_PG_URL=postgresql://postgres@127.0.0.1:PORT/DBNAME in its
        environment, stops the server and exits with CMD's status (the
        Makefile runs the C unit tests this way).

    python3 tests/pg_server.py createdb
        under `run` (TD_TEST_PG_URL set): creates a fresh database on that
        server and prints its URL.

When TD_TEST_PG_URL is already set (a run under `pg_server.py run`, or a
server of your own), PgServer.from_env() attaches to that server instead of
starting another: create_database() works the same, stop() leaves the
server alone.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

PG_BIN = os.environ.get('TD_PG_BIN', '/usr/lib/postgresql/15/bin')
RUN_AS = 'nobody'            # when we are root: initdb/pg_ctl refuse root
START_TIMEOUT = 60           # seconds, initdb and start each
STOP_TIMEOUT = 30            # seconds for the fast stop before the kill
CLIENT_TIMEOUT = 60          # seconds for one psql call


class PgServerError(RuntimeError):
    pass


def _free_port():
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in a temporary folder, or (attached=True) a
    server someone else started, reached through admin_url."""

    def __init__(self, base_dir=None, keep=False, durable=False):
        self.base_dir = base_dir     # parent of the temporary folder
        self.keep = keep             # leave the folder (for a post-mortem)
        # durable: PostgreSQL's own defaults (fsync, synchronous commit,
        # full page writes), for benchmarks; tests trade them for speed
        self.durable = durable
        self.dir = None
        self.port = None
        self.host = '127.0.0.1'
        self.user = 'postgres'
        self.attached = False
        self.admin_url = None        # the 'postgres' database
        self._as_user = []

    # -- an existing server --------------------------------------------

    @classmethod
    def from_url(cls, url):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ('postgresql', 'postgres') or not u.hostname:
            raise PgServerError(f'not a postgresql://user@host:port/db URL: {url}')
        pg = cls()
        pg.attached = True
        pg.host = u.hostname
        pg.port = u.port or 5432
        pg.user = urllib.parse.unquote(u.username or 'postgres')
        pg.admin_url = pg.url('postgres')
        return pg

    @classmethod
    def from_env(cls):
        """The server TD_TEST_PG_URL names, or None."""
        url = os.environ.get('TD_TEST_PG_URL')
        return cls.from_url(url) if url else None

    # -- life cycle ------------------------------------------------------

    def _run(self, argv, timeout, as_server_user=False):
        cmd = (self._as_user if as_server_user else []) + argv
        try:
            r = subprocess.run(cmd, cwd=self.dir or '/', stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise PgServerError(f'{argv[0]}: no answer in {timeout} s') from e
        if r.returncode != 0:
            raise PgServerError(f'{" ".join(argv)}: exit {r.returncode}:\n'
                                + r.stdout.decode('utf-8', 'replace'))
        return r.stdout.decode('utf-8', 'replace')

    def start(self):
        if self.attached or self.dir:
            return self
        for tool in ('initdb', 'pg_ctl'):
            if not os.access(os.path.join(PG_BIN, tool), os.X_OK):
                raise PgServerError(f'{PG_BIN}/{tool} missing: install postgresql-15 '
                                    '(the Makefile\'s DEB_TEST)')
        # /tmp's own mode (1777) lets nobody through; mkdtemp makes the
        # folder 0700, and it is nobody's once chowned.
        self.dir = tempfile.mkdtemp(prefix='td-pg-', dir=self.base_dir)
        try:
            if os.geteuid() == 0:
                pw = pwd.getpwnam(RUN_AS)
                os.chown(self.dir, pw.pw_uid, pw.pw_gid)
                self._check_parents_traversable()
                self._as_user = ['runuser', '-u', RUN_AS, '--']
            self._start_reaper()
            os.chmod(self.dir, 0o755)
            self._run([f'{PG_BIN}/initdb', '-D', self.data, '-U', self.user,
                       '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '-N'],
                      START_TIMEOUT, as_server_user=True)
            self._start_postmaster()
            self.admin_url = self.url('postgres')
        except BaseException:
            self.stop()
            raise
        return self

    def _start_reaper(self):
        """A watcher in its own session that stops the server and removes
        the folder if this process dies without doing it (SIGKILL, a
        test runner's timeout): pg_ctl's postmaster outlives its starter."""
        argv = [sys.executable, os.path.abspath(__file__), '_reap', self.dir,
                '1' if self._as_user else '0', '1' if self.keep else '0']
        self._reaper = subprocess.Popen(argv, start_new_session=True,
                                        stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)

    def _stop_reaper(self):
        r = getattr(self, '_reaper', None)
        if r is None:
            return
        r.terminate()
        try:
            r.wait(timeout=5)
        except subprocess.TimeoutExpired:
            r.kill()
            r.wait()
        self._reaper = None

    def _check_parents_traversable(self):
        d = os.path.dirname(os.path.abspath(self.dir))
        while True:
            if not os.stat(d).st_mode & 0o001:
                raise PgServerError(f'{d} is not o+x: {RUN_AS} cannot reach '
                                    f'{self.dir} (pass base_dir= elsewhere)')
            if d == '/':
                return
            d = os.path.dirname(d)

    @property
    def data(self):
        return os.path.join(self.dir, 'data')

    @property
    def log(self):
        return os.path.join(self.dir, 'log')

    def _start_postmaster(self):
        # A free port can be taken between our probe and the postmaster's
        # bind: try a few.
        last = None
        for _ in range(3):
            self.port = _free_port()
            opts = f'-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1'
            if not self.durable:
                opts += ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off'
            try:
                self._run([f'{PG_BIN}/pg_ctl', '-D', self.data, '-l', self.log, '-w',
                           '-t', str(START_TIMEOUT), '-o', opts, 'start'],
                          START_TIMEOUT + 5, as_server_user=True)
                return
            except PgServerError as e:
                last = e
                if 'could not bind' not in self.log_text():
                    break
        raise PgServerError(f'{last}\n--- server log:\n{self.log_text()}')

    def log_text(self):
        try:
            with open(self.log, encoding='utf-8', errors='replace') as f:
                return f.read()[-4000:]
        except OSError:
            return ''

    def cpu_seconds(self):
        """CPU time the server has used so far (user + system): the
        postmaster's own, its exited backends' (folded into it), and its
        living children's. Backends exit with their connection, so read
        after the clients are gone to count their work."""
        tick = os.sysconf('SC_CLK_TCK')
        pid = self._postmaster_pid()
        total = 0
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open(f'/proc/{entry}/stat') as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            ppid = int(fields[1])
            if int(entry) == pid:
                total += sum(int(v) for v in fields[11:15])   # utime stime cutime cstime
            elif ppid == pid:
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def _postmaster_pid(self):
        try:
            with open(os.path.join(self.data, 'postmaster.pid')) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def _halt(self, mode):
        """Stops a running server with `pg_ctl -m mode`; when that fails,
        cannot run, or takes longer than STOP_TIMEOUT, SIGKILLs the
        postmaster and waits (10 s at most) for it to go. Its children
        exit when it is gone."""
        if not os.path.exists(os.path.join(self.data, 'postmaster.pid')):
            return
        try:
            self._run([f'{PG_BIN}/pg_ctl', '-D', self.data, '-m', mode,
                       '-w', '-t', str(STOP_TIMEOUT), 'stop'],
                      STOP_TIMEOUT + 5, as_server_user=True)
            return
        except (PgServerError, OSError):
            pass
        pid = self._postmaster_pid()
        if not pid:
            return
        deadline = time.monotonic() + 10
        try:
            os.kill(pid, signal.SIGKILL)
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.05)
        except ProcessLookupError:
            pass

    def stop(self):
        """Stops the server (fast, then SIGKILL when that takes longer than
        STOP_TIMEOUT) and removes its folder. An attached server is left
        alone."""
        if self.attached or not self.dir:
            return
        try:
            self._halt('fast')
        finally:
            self._stop_reaper()
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- databases -------------------------------------------------------

    def url(self, dbname):
        return (f'postgresql://{urllib.parse.quote(self.user)}@{self.host}:{self.port}/'
                f'{urllib.parse.quote(dbname)}')

    def psql(self, sql, dbname='postgres'):
        """Runs sql through psql on dbname and returns its unaligned output
        (rows as lines, fields split by '|')."""
        out = self._run(['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
                         '-d', self.url(dbname), '-c', sql], CLIENT_TIMEOUT)
        return out.rstrip('\n')

    def create_database(self, prefix='td'):
        """Creates a database named uniquely (prefix + random hex) and
        returns its URL."""
        name = f'{prefix}_{uuid.uuid4().hex[:12]}'
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url):
        name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip('/'))
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- pytest ------------------------------------------------------------------
# The fixtures exist only where pytest is installed (the module itself needs
# the standard library alone). Import them into a conftest.py:
#     from pg_server import pg_server, pg_url  # noqa: F401

try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:
    @pytest.fixture(scope='session')
    def pg_server():
        """One server for the session: TD_TEST_PG_URL's when set, else a
        throwaway one started here."""
        pg = PgServer.from_env()
        if pg is not None:
            yield pg
            return
        with PgServer() as pg:
            yield pg

    @pytest.fixture
    def pg_url(pg_server):
        """A fresh database for one test, dropped after it."""
        url = pg_server.create_database()
        yield url
        try:
            pg_server.drop_database(url)
        except PgServerError:
            pass


# -- command line ------------------------------------------------------------

def _reap(folder, as_nobody, keep):
    """The reaper (PgServer._start_reaper): waits for its parent to go,
    then stops the server in folder (immediate: nobody needs its data) and
    removes the folder. Ended by SIGTERM when the parent cleaned up
    itself."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    pg = PgServer(keep=keep == '1')
    pg.dir = folder
    pg._as_user = ['runuser', '-u', RUN_AS, '--'] if as_nobody == '1' else []
    pg._halt('immediate')
    if not pg.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def _usage():
    sys.stderr.write('usage: pg_server.py run -- CMD [ARGS...]\n'
                     '       pg_server.py createdb   (with TD_TEST_PG_URL set)\n')
    return 64


def _createdb():
    pg = PgServer.from_env()
    if pg is None:
        sys.stderr.write('pg_server: createdb: TD_TEST_PG_URL is not set '
                         '(run it under pg_server.py run -- ...)\n')
        return 64
    try:
        print(pg.create_database())
    except PgServerError as e:
        sys.stderr.write(f'pg_server: createdb: {e}\n')
        return 69
    return 0


def main(argv):
    if len(argv) == 4 and argv[0] == '_reap':
        return _reap(*argv[1:])
    if argv == ['createdb']:
        return _createdb()
    if len(argv) < 3 or argv[0] != 'run' or argv[1] != '--':
        return _usage()
    cmd = argv[2:]

    # A SIGTERM or SIGHUP (make interrupted, a CI timeout, a closed
    # terminal) still stops the server; after a SIGKILL the reaper does.
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    t0 = time.monotonic()
    try:
        with PgServer() as pg:
            url = pg.create_database()
            sys.stderr.write(f'pg_server: PostgreSQL 15 at {url} '
                             f'(ready in {time.monotonic() - t0:.1f} s)\n')
            env = dict(os.environ, TD_TEST_PG_URL=url)
            try:
                child = subprocess.Popen(cmd, env=env)
            except OSError as e:
                sys.stderr.write(f'pg_server: {cmd[0]}: {e}\n')
                return 127
            try:
                rc = child.wait()
            except KeyboardInterrupt:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
                rc = 130
    except PgServerError as e:
        sys.stderr.write(f'pg_server: {e}\n')
        return 69    # EX_UNAVAILABLE
    except KeyboardInterrupt:
        return 130
    # a child killed by a signal: the shell's convention
    return rc if rc >= 0 else 128 - rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

"""Shared fixtures for the end-to-end tests.

They run the real tagdigest binary (TAGDIGEST_BIN, the sanitizer build under
`make test`) on a site built in a temporary folder, against real servers
started here on 127.0.0.1: Postfix's smtp-sink for SMTP. Every server a test
starts is stopped by its fixture, whatever the test's outcome.
"""
import contextlib
import email
import email.policy
import http.server
import os
import pathlib
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unicodedata

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("TAGDIGEST_BIN") or str(ROOT / "build" / "tagdigest")
# "postgres" under `make e2e-pg`: BIN is tests/e2e/pg_store_bin.sh, which
# puts each site's store in a PostgreSQL database of its own.
BACKEND = os.environ.get("TD_E2E_BACKEND", "sqlite")
if BACKEND == "postgres":
    import psycopg2   # the tests' own reads of a PostgreSQL store (StoreDB)
    import psycopg2.errors
# What reading a store that is not there yet, or busy, raises on either backend
STORE_ERRORS = (sqlite3.Error, OSError) + ((psycopg2.Error,) if BACKEND == "postgres" else ())


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sqlite_only(why): the test reads or locks the SQLite file "
        "itself; skipped when the store is on PostgreSQL (make e2e-pg)")


def pytest_collection_modifyitems(config, items):
    if BACKEND != "postgres":
        return
    for item in items:
        m = item.get_closest_marker("sqlite_only")
        if m:
            why = m.args[0] if m.args else "reads the SQLite file"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {why}"))


class StoreDB:
    """A test site's store, open for the tests' own reads and writes, on
    either backend: sqlite3 on var/store.db, psycopg2 on the site's
    PostgreSQL database. DB-API-ish: execute(sql, params) returns a cursor
    (fetchone, fetchall); the SQL is written for SQLite (`?` placeholders)
    and kept to what both dialects read alike. Each statement commits on
    PostgreSQL (autocommit), so a read holds no lock past its statement;
    commit() is there for SQLite. A `with` commits (unless it raised) and
    closes."""

    def __init__(self, site, readonly=False, timeout=5):
        site = pathlib.Path(site)
        if site.is_file():
            site = site.parent
        self.postgres = BACKEND == "postgres"
        if self.postgres:
            # pg_store_bin.sh wrote the site's URL there on its first command
            url = (site / ".pg_store").read_text().strip()
            assert url, f"{site}/.pg_store is empty: no tagdigest command ran on this site"
            # libpq's connect_timeout: whole seconds, at least 2
            self.conn = psycopg2.connect(url, connect_timeout=max(2, round(timeout)))
            self.conn.set_session(readonly=readonly, autocommit=True)
        else:
            path = site / "var" / "store.db"
            self.conn = (sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
                         if readonly else sqlite3.connect(path, timeout=timeout))

    def execute(self, sql, params=()):
        if not self.postgres:
            return self.conn.execute(sql, params)
        cur = self.conn.cursor()
        # `?` placeholders as psycopg2's `%s`, a literal `%` doubled; the
        # tests' SQL has no `?` inside string literals
        cur.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
        return _PgCursor(cur)

    def commit(self):
        self.conn.commit()

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        try:
            if kind is None:
                self.commit()
        finally:
            self.close()


class _PgCursor:
    """psycopg2's cursor reading as sqlite3's: BYTEA as bytes, not memoryview."""

    def __init__(self, cur):
        self.cur = cur
        self.rowcount = cur.rowcount

    @staticmethod
    def _row(row):
        return None if row is None else tuple(
            bytes(v) if isinstance(v, memoryview) else v for v in row)

    def fetchone(self):
        return self._row(self.cur.fetchone()) if self.cur.description else None

    def fetchall(self):
        return [self._row(r) for r in self.cur.fetchall()] if self.cur.description else []

    def __iter__(self):
        return iter(self.fetchall())


def secret_path(site):
    """Where a site with no [security] token_secret_file keeps its token
    secret: beside an SQLite store, in var/ for a PostgreSQL one."""
    return pathlib.Path(site) / "var" / (
        "tagdigest.secret" if BACKEND == "postgres" else "store.db.secret")


def open_store(site, readonly=False, timeout=5):
    """The store of the site whose config lives in `site` (the folder, or
    the config file), on whichever backend the run uses (StoreDB)."""
    return StoreDB(site, readonly=readonly, timeout=timeout)


@contextlib.contextmanager
def store_write_lock(site, timeout=5):
    """Hold the site's store against every writer, readers let through:
    SQLite's write lock (BEGIN IMMEDIATE), or on PostgreSQL every table
    locked IN EXCLUSIVE MODE (plain SELECTs pass, writes wait). Yields
    the StoreDB inside that transaction, which is rolled back on exit."""
    with open_store(site, timeout=timeout) as db:
        if db.postgres:
            tables = [t for (t,) in db.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()").fetchall()]
            lock = ("LOCK TABLE " + ", ".join(f'"{t}"' for t in tables)
                    + " IN EXCLUSIVE MODE NOWAIT")
            # all at once or none, tried again until the busy timeout: a
            # writer that holds one table and wants another must not find
            # it held by a lock that waits for the first (a deadlock)
            until = time.monotonic() + timeout
            while True:
                db.execute("BEGIN")
                try:
                    db.execute(lock)
                    break
                except psycopg2.errors.LockNotAvailable:
                    db.execute("ROLLBACK")
                    if time.monotonic() > until:
                        raise
                    time.sleep(0.005)
        else:
            db.conn.isolation_level = None
            db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        finally:
            db.execute("ROLLBACK")


def store_copy(site, src=None):
    """A copy of the site's store (src=None), or the store put back to the
    copy `src`: what a crash between the transport's accept and the
    store's record leaves. SQLite: the backup API into a file beside the
    site; PostgreSQL: a database made from the site's as its template
    (no command may be connected to either: run it between commands)."""
    site = pathlib.Path(site)
    if site.is_file():
        site = site.parent
    if BACKEND != "postgres":
        db = site / "var" / "store.db"
        if src is None:
            src, dst = db, site / f"store-copy-{time.monotonic_ns()}.db"
            made = dst
        else:
            src, dst, made = src, db, None
        a, b = sqlite3.connect(src), sqlite3.connect(dst)
        try:
            a.backup(b)
        finally:
            a.close()
            b.close()
        return made
    url = (site / ".pg_store").read_text().strip()
    name = url.rsplit("/", 1)[1]
    admin = psycopg2.connect(os.environ["TD_TEST_PG_URL"], connect_timeout=10)
    try:
        admin.autocommit = True
        cur = admin.cursor()
        if src is None:
            made = f"{name}_copy_{time.monotonic_ns()}"
            cur.execute(f'CREATE DATABASE "{made}" TEMPLATE "{name}"')
            return made
        cur.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{src}"')
        return None
    finally:
        admin.close()


def store_dump(site):
    """Everything the site's store holds, as a list of lines that compare
    equal exactly when the contents are equal: SQLite's own dump; on
    PostgreSQL each table's rows as text, sorted."""
    with open_store(site, readonly=True) as db:
        if not db.postgres:
            return list(db.conn.iterdump())
        out = []
        for (table,) in db.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() ORDER BY table_name").fetchall():
            rows = db.execute(f'SELECT t::text FROM "{table}" t ORDER BY 1').fetchall()
            out += [f"{table}: {r}" for (r,) in rows]
        return out


SMTP_SINK = "/usr/sbin/smtp-sink"

# Posts of the test site: (file, title, tags, url). Titles carry non-ASCII
# and markup-looking text on purpose.
POSTS = [
    ("a.md", "Lavrov meets Mogherini in Brüssel", ["Sergey Lavrov", "EU"], "https://news.test/p/a/"),
    ("b.md", "NATO “ambitions” & <script>alert(1)</script>", ["NATO", "Sergey Lavrov"], "https://news.test/p/b/"),
    ("c.md", "Pyongyang talks: 北朝鮮 roadmap", ["North Korea"], "https://news.test/p/c/"),
    ("d.md", "Tillerson call — “good will”", ["USA", "Sergey Lavrov"], "https://news.test/p/d/"),
    ("e.md", "Consulate closure in San Francisco", ["USA"], "https://news.test/p/e/"),
    ("f.md", "Quiet week in Iran", ["Iran"], "https://news.test/p/f/"),
]

# Subscribers: (email, name, tags). Names exercise RFC 2047 and quoting.
SUBSCRIBERS = [
    ("juergen@example.org", "Jürgen Müller", ["sergey-lavrov"]),
    ("zoe@example.net", "Zoë O'Brien, Esq.", ["nato", "usa"]),
    ("li@example.com", "李小龍", ["north-korea", "usa"]),
    ("plain@example.org", "", ["eu"]),
    ("nobody-news@example.org", "Only Weather", ["weather"]),
]
SITE_NAME = "Nachrichten Wöchentlich"


def columns(line):
    """Columns a terminal gives the line: East Asian Wide and Fullwidth
    characters take two; combining marks and format characters (ZWJ,
    variation selectors) none."""
    n = 0
    for ch in line:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


# A URL on a line of its own, alone or as a footnote "[n] URL": the one
# line of the text part allowed past the width, because it is never broken.
URL_LINE = re.compile(r" *(\[\d+\] )?https?://\S+")


def overwide_lines(text, width=72):
    """The lines of a text part a terminal shows wider than `width`, but
    for a URL on a line of its own."""
    return [line for line in text.split("\n")
            if columns(line) > width and not URL_LINE.fullmatch(line)]


def slug(name):
    return name.lower().replace(" ", "-")


def expected_urls(tags):
    """Which post URLs a subscriber following `tags` must see: computed
    from the fixture, independently of tagdigest."""
    return {url for _, _, ptags, url in POSTS if {slug(t) for t in ptags} & set(tags)}


def write_site(root, transport, smtp_url=None, extra_rows=""):
    root = pathlib.Path(root)
    (root / "posts").mkdir(parents=True)
    for i, (fname, title, tags, url) in enumerate(POSTS):
        body = (f"First paragraph of *{title}*, with a [link](https://news.test/ref/{i}).\n\n"
                "A second paragraph that the excerpt leaves out.\n")
        fm_title = title.replace('"', '\\"')
        (root / "posts" / fname).write_text(
            "---\n"
            f'title: "{fm_title}"\n'
            f"date: 2026-11-2{i % 6}T10:00:00Z\n"
            f"tags: [{', '.join(tags)}]\n"
            f"url: {url}\n"
            "author: Test Desk\n"
            "---\n" + body, encoding="utf-8")
    rows = ["email,name,tags"]
    for addr, name, tags in SUBSCRIBERS:
        rows.append(f'{addr},"{name}",{";".join(tags)}')
    (root / "subscribers.csv").write_text("\n".join(rows) + "\n" + extra_rows, encoding="utf-8")
    shutil.copytree(ROOT / "templates", root / "templates")
    transport_lines = (f"type = smtp\nurl = {smtp_url}\ntimeout = 10\n" if transport == "smtp"
                       else f"type = maildir\npath = {root / 'outbox'}\n")
    conf = root / "tagdigest.conf"
    conf.write_text(
        "[site]\n"
        f"name = {SITE_NAME}\n"
        "url = https://news.test\n"
        "from = digest@news.test\n"
        "[store]\n"
        "path = var/store.db\n"
        "[schedule]\n"
        "day = monday\n"
        "time = 08:00\n"
        "timezone = Europe/Berlin\n"
        "[digest]\n"
        "max_posts = 10\n"
        "[subscribers]\n"
        "path = subscribers.csv\n"
        "[templates]\n"
        "dir = templates\n"
        "[transport]\n" + transport_lines +
        "[source.posts]\n"
        "type = posts\n"
        "path = posts\n", encoding="utf-8")
    return conf


def run(conf, *args, check=False, timeout=60, env=None):
    cmd = [BIN, "-c", str(conf), *args]
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=full_env)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}\nstdout: {p.stdout.decode()}\n"
                             f"stderr: {p.stderr.decode()}")
    return p


def kill(proc, site=None, stall=0.0):
    """SIGKILL proc; with site, first hold its store's write lock
    (store_write_lock) for `stall` seconds, so the process dies while
    waiting to record what it has already done (the crash tests' worst
    moment). The lock is let go after the process is gone.
    The lock is waited for up to 30 s: a sender that commits in quick
    succession can keep SQLite's busy handler, which sleeps between tries,
    out for longer than the usual 5 s on a loaded machine (CI once failed
    here with "database is locked")."""
    with (store_write_lock(site, timeout=30) if site is not None
          else contextlib.nullcontext()):
        if site is not None:
            time.sleep(stall)
        proc.kill()
        proc.wait(timeout=10)


def parse(raw):
    """Parse with the standard library's strict policy; fail on any defect."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = [(part.get_content_type(), part.defects) for part in msg.walk() if part.defects]
    assert not defects, f"parser defects: {defects}"
    return msg


@contextlib.contextmanager
def http_server(handler, port=0):
    """A threading HTTP server on a free loopback port (or `port`, from
    free_port(): a server that is down, then up) with `handler`; yields
    its origin ("http://127.0.0.1:PORT") and stops it on exit."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(timeout=5)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """Postfix's smtp-sink on a free loopback port, dumping each message
    (dump=False: not, for benchmarks that measure the client, not disk)."""

    def __init__(self, *options, dump=True, backlog=100):
        self.dir = tempfile.mkdtemp(prefix="td-sink-")
        # smtp-sink drops to `nobody` before it writes dumps
        os.chmod(self.dir, 0o711)
        self.dumps = os.path.join(self.dir, "dumps")
        os.mkdir(self.dumps)
        os.chmod(self.dumps, 0o777)
        self.port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.log = open(os.path.join(self.dir, "sink.log"), "wb")
        self.proc = subprocess.Popen(
            [SMTP_SINK, *user, *(["-d", self.dumps + "/m."] if dump else []), *options,
             f"127.0.0.1:{self.port}", str(backlog)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"smtp-sink did not start on port {self.port}")

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def messages(self):
        """(envelope recipients, parsed message) for each dumped message."""
        out = []
        for name in sorted(os.listdir(self.dumps)):
            raw = open(os.path.join(self.dumps, name), "rb").read()
            # The dump opens with smtp-sink's own X-* and Received: headers;
            # they precede the message's headers and parse as headers too.
            msg = parse(raw)
            rcpts = [a.strip("<>") for a in msg.get_all("X-Rcpt-Args", [])]
            out.append((rcpts, msg, raw))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.stop()


@pytest.fixture
def slow_sink():
    # -w: wait 2 s before answering DATA, so a run lasts long enough to overlap
    s = Sink("-w", "2")
    yield s
    s.stop()

#!/usr/bin/env python3
"""make bench: one sender on SQLite, one on PostgreSQL, and several on one
PostgreSQL, the same list into the same smtp-sink, with Postfix's
smtp-source as the peer measured in the same minutes.

Generates a site of N readers (default 100,000; every one gets a digest)
and, for each of --runs rounds, in turn:

- SQLite: a fresh copy of the ingested store, one `tagdigest send`;
- PostgreSQL, one worker: a fresh database (tests/pg_server.py starts a
  throwaway PostgreSQL 15 on loopback), ingested untimed, one send;
- PostgreSQL, W workers (default 3): a fresh database, W sends started
  together; they sync the subscriber file once between them and share the
  readers by claiming batches (store/claims.h);
- smtp-source with as many sessions as the run had connections, the same
  number of messages of the same size.

Every send starts with the subscriber file to sync, which is part of its
time, as in bench_smtp.py. A round's wall time runs from the first start
to the last exit; the table gives each setup's median and spread, and
the ratios to the one SQLite worker and to smtp-source. The messages
counted are the sends' own "N sent", and their sum must be the list.

    python3 tests/bench/bench_workers.py --bin build/tagdigest [--subscribers N]
        [--workers W] [--connections C] [--runs R]

This machine has two cores: the senders, PostgreSQL, smtp-sink and
smtp-source share them, so several workers here show the cost of the
sharing more than any gain (docs/SCALE.md does the arithmetic for more
machines).
"""
import argparse
import os
import pathlib
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests"))
from bench_send import make_site  # noqa: E402  (the same generated site)
from bench_smtp import source, spread  # noqa: E402  (the same peer)
from conftest import Sink  # noqa: E402
from pg_server import PgServer  # noqa: E402


def sends(binary, conf, store_opt, port, conns, workers, timeout):
    """workers `tagdigest send` at once against one store; returns (sum
    of sent, wall seconds, the senders' CPU seconds)."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [binary, "-c", str(conf), "-o", store_opt,
           "-o", "transport.type=smtp", "-o", f"transport.url=smtp://127.0.0.1:{port}",
           "-o", f"transport.connections={conns}",
           "-o", "transport.max_messages_per_connection=1000000", "send"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(workers)]
    sent = 0
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            if p.returncode != 0:
                raise RuntimeError(f"tagdigest send exited {p.returncode}: {err[-2000:]}")
            m = re.search(r"(\d+) sent", out)
            sent += int(m.group(1)) if m else 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    secs = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return sent, secs, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--subscribers", type=int, default=100000)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--connections", type=int, default=2,
                    help="SMTP connections of each sender")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    n = args.subscribers
    timeout = max(600, n // 50)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="td-bench-workers-"))
    os.chmod(tmp, 0o755)
    sink = Sink(dump=False, backlog=1000)
    # PostgreSQL's own durability settings: fsync and synchronous commit
    # on, as a real primary runs (the tests' server turns them off)
    pg = PgServer(durable=True)
    try:
        pg.start()
        root = tmp / "site"
        conf = make_site(root, n)
        store = root / "var" / "store.db"
        subprocess.run([args.bin, "-q", "-c", str(conf), "ingest"], check=True,
                       capture_output=True, timeout=timeout)
        seed = root / "seed.db"
        with sqlite3.connect(store) as src, sqlite3.connect(seed) as dst:
            src.backup(dst)
        prev = subprocess.run([args.bin, "-q", "-c", str(conf), "preview", "--to",
                               "reader1@example.org"], check=True, capture_output=True)
        size = len(prev.stdout)

        setups = [("SQLite, 1 sender", "sqlite", 1),
                  ("PostgreSQL, 1 sender", "pg", 1),
                  (f"PostgreSQL, {args.workers} senders", "pg", args.workers)]
        times = {name: [] for name, _, _ in setups}
        peer = {name: [] for name, _, _ in setups}
        cpu = {name: [] for name, _, _ in setups}      # senders' µs per message
        db_cpu = {name: [] for name, _, _ in setups}   # PostgreSQL's
        wal = {name: [] for name, _, _ in setups}      # WAL bytes per message
        for _ in range(args.runs):
            for name, backend, workers in setups:
                if backend == "sqlite":
                    for suffix in ("", "-wal", "-shm"):
                        pathlib.Path(str(store) + suffix).unlink(missing_ok=True)
                    shutil.copy(seed, store)
                    opt = f"store.path={store}"
                else:
                    url = pg.create_database("bench")
                    opt = f"store.url={url}"
                    subprocess.run([args.bin, "-q", "-c", str(conf), "-o", opt, "ingest"],
                                   check=True, capture_output=True, timeout=timeout)
                db0 = pg.cpu_seconds()
                lsn0 = pg.psql("SELECT pg_current_wal_lsn()")
                sent, secs, used = sends(args.bin, conf, opt, sink.port, args.connections,
                                         workers, timeout)
                cpu[name].append(used / n * 1e6)
                if backend == "pg":
                    time.sleep(0.5)   # the backends exit with their clients
                    db_cpu[name].append((pg.cpu_seconds() - db0) / n * 1e6)
                    wal[name].append(int(pg.psql(
                        f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn0}')")) / n)
                if sent != n:
                    raise RuntimeError(f"{name}: {sent} sent of {n} readers")
                times[name].append(secs)
                peer[name].append(source(sink.port, args.connections * workers, n, size,
                                         timeout))
                if backend == "pg":
                    pg.drop_database(url)
        base = times[setups[0][0]]
        print(f"Senders into smtp-sink on loopback, {n} readers, messages of about "
              f"{size / 1024:.1f} KiB, {args.connections} connection"
              f"{'s' if args.connections != 1 else ''} per sender, {args.runs} run"
              f"{'s' if args.runs != 1 else ''} each"
              f"{' (median, lowest-highest)' if args.runs > 1 else ''}; "
              f"{os.cpu_count()} CPUs")
        print("| setup | wall time | messages/s | vs SQLite, 1 sender | "
              "smtp-source, same sessions | ratio to smtp-source | "
              "senders' CPU per message | PostgreSQL's CPU per message | "
              "WAL per message |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, _, workers in setups:
            t = times[name]
            print(f"| {name} | {spread(t, lambda v: f'{v:.1f}')} s | "
                  f"{spread([n / v for v in t], lambda v: f'{v:,.0f}')} | "
                  f"{spread([b / v for b, v in zip(base, t)], lambda v: f'{v:.2f}')} | "
                  f"{spread([n / v for v in peer[name]], lambda v: f'{v:,.0f}')} msg/s "
                  f"({args.connections * workers} sessions) | "
                  f"{spread([p / v for p, v in zip(peer[name], t)], lambda v: f'{v:.2f}')} | "
                  f"{spread(cpu[name], lambda v: f'{v:.0f}')} µs | "
                  + (f"{spread(db_cpu[name], lambda v: f'{v:.0f}')} µs | "
                     f"{spread(wal[name], lambda v: f'{v / 1024:.1f}')} KiB |"
                     if db_cpu[name] else "- | - |"))
    finally:
        pg.stop()
        sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

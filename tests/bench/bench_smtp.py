#!/usr/bin/env python3
"""make bench: how fast `tagdigest send` delivers over SMTP, against the
relay's own client.

Generates a site with N subscribers (default 100,000; every one gets a
digest), ingests it once, then for 1 and 4 connections:

- times `tagdigest send` into Postfix's smtp-sink on a free loopback port
  (connections reused for the whole run, as smtp-source -d does), under
  GNU time for its peak RSS, from a fresh copy of the ingested store;
- in the same run, times Postfix's smtp-source sending the same number of
  messages of the same size over the same number of sessions:
  `smtp-source -d -s CONNS -m COUNT -l SIZE 127.0.0.1:PORT`.

smtp-source sends a fixed payload; tagdigest composes every digest (store
queries, templates, MIME) and records every delivery in SQLite, so the
ratio is the whole program against the wire alone. It also measures
tagdigest's peak RSS at --small subscribers (default 10,000) to show that
memory does not grow with the subscriber list.

    python3 tests/bench/bench_smtp.py --bin build/tagdigest [--subscribers N]
"""
import argparse
import os
import pathlib
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from bench_send import make_site  # noqa: E402  (the same generated site)
from conftest import Sink  # noqa: E402  (the tests' smtp-sink, here without dumps)

SOURCE = "/usr/sbin/smtp-source"


def send(binary, conf, store_seed, port, conns, timeout):
    """One `tagdigest send` from a fresh copy of the ingested store.
    Returns (sent, seconds, peak RSS in KiB)."""
    store = conf.parent / "var" / "store.db"
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(str(store) + suffix).unlink(missing_ok=True)
    shutil.copy(store_seed, store)
    cmd = ["/usr/bin/time", "-f", "%M", binary, "-c", str(conf),
           "-o", "transport.type=smtp", "-o", f"transport.url=smtp://127.0.0.1:{port}",
           "-o", f"transport.connections={conns}",
           "-o", "transport.max_messages_per_connection=1000000", "send"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"tagdigest send exited {p.returncode}: {p.stderr[-2000:]}")
    sent = int(re.search(r"(\d+) sent", p.stdout).group(1))
    rss = int(p.stderr.strip().splitlines()[-1])
    return sent, secs, rss


def source(port, conns, count, size, timeout):
    t0 = time.perf_counter()
    subprocess.run([SOURCE, "-d", "-s", str(conns), "-m", str(count), "-l", str(size),
                    f"127.0.0.1:{port}"], check=True, capture_output=True, timeout=timeout)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--subscribers", type=int, default=100000)
    ap.add_argument("--small", type=int, default=10000,
                    help="the smaller list for the memory comparison")
    ap.add_argument("--connections", default="1,4")
    args = ap.parse_args()
    conns_list = [int(c) for c in args.connections.split(",")]
    timeout = max(600, args.subscribers // 50)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="td-bench-smtp-"))
    os.chmod(tmp, 0o755)
    sink = Sink(dump=False, backlog=1000)
    try:
        rows = []
        rss = {}
        for n in sorted({args.small, args.subscribers}):
            root = tmp / f"site{n}"
            conf = make_site(root, n)
            subprocess.run([args.bin, "-q", "-c", str(conf), "ingest"], check=True,
                           capture_output=True)
            seed = root / "seed.db"
            # a consistent copy, WAL included, to start every send from
            with sqlite3.connect(root / "var" / "store.db") as src, sqlite3.connect(seed) as dst:
                src.backup(dst)
            # the size smtp-source should send: tagdigest's average message
            prev = subprocess.run([args.bin, "-q", "-c", str(conf), "preview", "--to",
                                   "reader1@example.org"], check=True, capture_output=True)
            size = len(prev.stdout)
            for conns in (conns_list if n == args.subscribers else [1]):
                sent, secs, peak = send(args.bin, conf, seed, sink.port, conns, timeout)
                rss[(n, conns)] = peak
                if n != args.subscribers:
                    continue
                src = source(sink.port, conns, sent, size, timeout)
                rows.append((conns, sent, size, sent / secs, secs, sent / src, src, peak))
        print(f"SMTP into smtp-sink on loopback, {args.subscribers} subscribers, "
              f"messages of about {rows[0][2] / 1024:.1f} KiB")
        print("| connections | tagdigest send | smtp-source -d | ratio | peak RSS |")
        print("|---|---|---|---|---|")
        for conns, sent, size, rate, secs, srate, ssecs, peak in rows:
            print(f"| {conns} | {rate:,.0f} msg/s ({sent} in {secs:.1f} s) | "
                  f"{srate:,.0f} msg/s ({ssecs:.1f} s) | {rate / srate:.2f} | "
                  f"{peak / 1024:.1f} MiB |")
        small = rss.get((args.small, 1))
        big = rss.get((args.subscribers, 1))
        if small and big and args.small != args.subscribers:
            print(f"peak RSS, 1 connection: {args.small} subscribers {small / 1024:.1f} MiB, "
                  f"{args.subscribers} subscribers {big / 1024:.1f} MiB")
    finally:
        sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""make bench: how fast `tagdigest send` delivers over SMTP, against the
relay's own client.

Generates a site with N subscribers (default 100,000; every one gets a
digest), ingests it once, then for each connection count (default 1 and 4)
and each of --runs rounds, alternating:

- times `tagdigest send` into Postfix's smtp-sink on a free loopback port
  (connections reused for the whole run, as smtp-source -d does), under
  GNU time for its peak RSS, from a fresh copy of the ingested store (so
  every run starts with the subscriber file to sync: it is part of the
  time);
- right after, times Postfix's smtp-source sending the same number of
  messages of the same size over the same number of sessions:
  `smtp-source -d -s CONNS -m COUNT -l SIZE 127.0.0.1:PORT`.

smtp-source sends a fixed payload; tagdigest composes every digest (store
queries, templates, MIME) and records every delivery in SQLite, so the
ratio is the whole program against the wire alone. Each row gives the
median of the runs and their spread (lowest to highest); the ratio is taken
per round (the two measured in the same minutes), then its median. It also
measures tagdigest's peak RSS at --small subscribers (default 10,000), with
the same connection counts, to show whether memory grows with the list.

    python3 tests/bench/bench_smtp.py --bin build/tagdigest [--subscribers N] [--runs R]
"""
import argparse
import os
import pathlib
import re
import shutil
import statistics
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
    Returns (sent, seconds, peak RSS in KiB, the summary's seconds)."""
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
    # the send's own time, after the sync of the subscriber file
    own = float(re.search(r" in ([0-9.]+) s", p.stdout).group(1))
    rss = int(p.stderr.strip().splitlines()[-1])
    return sent, secs, rss, own


def source(port, conns, count, size, timeout):
    t0 = time.perf_counter()
    subprocess.run([SOURCE, "-d", "-s", str(conns), "-m", str(count), "-l", str(size),
                    f"127.0.0.1:{port}"], check=True, capture_output=True, timeout=timeout)
    return time.perf_counter() - t0


def spread(values, fmt):
    """median (lowest-highest) of values, each written with fmt"""
    if len(values) == 1:
        return fmt(values[0])
    return (f"{fmt(statistics.median(values))} "
            f"({fmt(min(values))}-{fmt(max(values))})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--subscribers", type=int, default=100000)
    ap.add_argument("--small", type=int, default=10000,
                    help="the smaller list for the memory comparison")
    ap.add_argument("--connections", default="1,4")
    ap.add_argument("--runs", type=int, default=1,
                    help="rounds of tagdigest and smtp-source, alternating")
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
            for conns in conns_list:
                if n != args.subscribers:
                    # the memory comparison: one send each
                    rss[(n, conns)] = [send(args.bin, conf, seed, sink.port, conns, timeout)[2]]
                    continue
                runs = []
                for _ in range(args.runs):
                    sent, secs, peak, own = send(args.bin, conf, seed, sink.port, conns, timeout)
                    src = source(sink.port, conns, sent, size, timeout)
                    runs.append((sent, secs, peak, own, src))
                rss[(n, conns)] = [r[2] for r in runs]
                rows.append((conns, size, runs))
        print(f"SMTP into smtp-sink on loopback, {args.subscribers} subscribers, "
              f"messages of about {rows[0][1] / 1024:.1f} KiB, "
              f"{args.runs} run{'s' if args.runs != 1 else ''} each"
              f"{' (median, lowest-highest)' if args.runs > 1 else ''}")
        print("| connections | tagdigest send | seconds | after the sync | "
              "smtp-source -d | ratio | peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for conns, size, runs in rows:
            sent = runs[0][0]
            print(f"| {conns} | {spread([r[0] / r[1] for r in runs], lambda v: f'{v:,.0f}')} "
                  f"msg/s ({sent} messages) | "
                  f"{spread([r[1] for r in runs], lambda v: f'{v:.1f}')} s | "
                  f"{spread([r[3] for r in runs], lambda v: f'{v:.1f}')} s | "
                  f"{spread([r[0] / r[4] for r in runs], lambda v: f'{v:,.0f}')} msg/s | "
                  f"{spread([r[4] / r[1] for r in runs], lambda v: f'{v:.2f}')} | "
                  f"{spread([r[2] / 1024 for r in runs], lambda v: f'{v:.1f}')} MiB |")
        if args.small != args.subscribers:
            for conns in conns_list:
                small = max(rss[(args.small, conns)])
                big = max(rss[(args.subscribers, conns)])
                print(f"peak RSS, {conns} connection{'s' if conns != 1 else ''}: "
                      f"{args.small} subscribers {small / 1024:.1f} MiB, "
                      f"{args.subscribers} subscribers {big / 1024:.1f} MiB "
                      f"({(big - small) / small * 100:+.1f} %, highest of the runs)")
    finally:
        sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Ingest time of pathological Markdown posts (issue 9, item 13).

Generates the stress corpus of tests/fuzz/gen_markdown_corpus.py at the
given size (default: just under the 1 MiB post cap) and times `tagdigest
ingest` of a posts folder holding that one post, for each: front matter,
cmark, the plain-text renderer, the sanitizer, the excerpt, the store.
Each is run --runs times and the best counts; the CPU time is the child's
user+system time of that run. Prints one line per post, slowest first.

    bench_markdown.py --bin build/tagdigest [--size BYTES] [--runs N]
"""
import argparse
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRONT = "---\ntitle: Stress\ndate: 2026-11-20\ntags: [NATO]\nurl: https://bench.test/p/\n---\n"


def ingest_once(binary, conf):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([binary, "-q", "-c", str(conf), "ingest"], capture_output=True,
                       timeout=600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode != 0:
        raise SystemExit(f"ingest failed ({p.returncode}): {p.stderr.decode()}")
    return wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--size", type=int, default=(1 << 20) - 512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", help="run only the posts whose name contains this")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    work = pathlib.Path(tempfile.mkdtemp(prefix="td-bench-md-"))
    try:
        corpus = work / "corpus"
        subprocess.run([sys.executable, str(ROOT / "tests/fuzz/gen_markdown_corpus.py"),
                        str(corpus), "--size", str(args.size - len(FRONT))], check=True)
        rows = []
        for body in sorted(corpus.iterdir()):
            if args.only and args.only not in body.name:
                continue
            site = work / body.stem
            (site / "posts").mkdir(parents=True)
            (site / "posts" / "post.md").write_bytes(FRONT.encode() + body.read_bytes())
            conf = site / "td.conf"
            conf.write_text("[site]\nname = B\nurl = https://bench.test\nfrom = d@bench.test\n"
                            "[store]\npath = store.db\n[subscribers]\npath = s.csv\n"
                            f"[templates]\ndir = {ROOT / 'templates'}\n"
                            "[transport]\ntype = maildir\npath = out\n"
                            "[source.posts]\ntype = posts\npath = posts\n")
            (site / "s.csv").write_text("email,name,tags\n")
            best = None
            for _ in range(args.runs):
                (site / "store.db").unlink(missing_ok=True)
                wall, cpu = ingest_once(binary, conf)
                if best is None or wall < best[0]:
                    best = (wall, cpu)
            size = (site / "posts" / "post.md").stat().st_size
            rows.append((best[0], best[1], size, body.stem))
        print(f"{'post':40s} {'bytes':>9s} {'wall s':>8s} {'cpu s':>8s}")
        for wall, cpu, size, name in sorted(rows, reverse=True):
            print(f"{name:40s} {size:9d} {wall:8.3f} {cpu:8.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

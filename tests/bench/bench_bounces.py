#!/usr/bin/env python3
"""The bounce parser against its peer, Debian's python3-flufl.bounce
(Mailman's bounce detector), on every message of $TESTDATA/bounces
(issue 12).

For each message: which addresses tagdigest's `bounce-dump` names (the
"recipients" of its JSON, report.h) and which flufl.bounce's
scan_message names (the permanent failures it detects; all_failures, its
permanent and temporary ones together, is shown too). A message counts as
found when the parser names at least one address; both agree when they
name the same set of addresses (compared lowercased). Then the parse
rate of each, measured in the same run on the same bytes, best of
--rounds:

  tagdigest   one `bounce-dump FILE...` process over all the messages
              (reading, MIME parsing, the report, the JSON out)
  flufl       in this Python process: email.message_from_bytes (what
              scan_message needs) and scan_message, the files read first

Prints Markdown tables for docs/BENCHMARKS.md. --smoke takes the first
--smoke-files messages and one round, for `make test`.

    bench_bounces.py --bin build/tagdigest [--testdata DIR] [--rounds N] [--list]
"""
import argparse
import collections
import email
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def messages(testdata):
    base = pathlib.Path(testdata) / "bounces"
    files = sorted(p for d in ("bsd", "not") if (base / d).is_dir()
                   for p in (base / d).iterdir() if p.is_file())
    return files


def family(path):
    """lhost, rhost, rfc3464, rfc3834, arf; not for the non-bounces."""
    if path.parent.name == "not":
        return "not"
    return path.name.split("-")[0]


def addr_set(values):
    out = set()
    for v in values:
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        v = v.strip().strip("<>").lower()
        if v:
            out.add(v)
    return out


def dump_reports(binary, files):
    """Each file's report, from one bounce-dump process. Its output is a
    JSON object per file, one after another (a single object when one
    file is given); each names its file when there are several."""
    p = subprocess.run([binary, "-q", "bounce-dump", *map(str, files)],
                       capture_output=True, timeout=1200)
    if p.returncode not in (0, 65, 66):
        raise SystemExit(f"bounce-dump failed ({p.returncode}): {p.stderr.decode()[:2000]}")
    text = p.stdout.decode("utf-8", "replace")
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = dec.raw_decode(text, i)
        out.extend(obj if isinstance(obj, list) else [obj])
    if len(out) != len(files):
        raise SystemExit(f"bounce-dump gave {len(out)} reports for {len(files)} files")
    return out


def td_addresses(report):
    return addr_set(r.get("address", "") for r in report.get("recipients", []))


def time_tagdigest(binary, files):
    t0 = time.perf_counter()
    p = subprocess.run([binary, "-q", "bounce-dump", *map(str, files)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1200)
    elapsed = time.perf_counter() - t0
    if p.returncode not in (0, 65, 66):
        raise SystemExit(f"bounce-dump failed ({p.returncode})")
    return elapsed


def flufl_scan(raws, scan):
    """Each message's addresses (None when flufl raised)."""
    out = []
    for raw in raws:
        try:
            out.append(addr_set(scan(email.message_from_bytes(raw))))
        except Exception:            # a detector that crashes finds nothing
            out.append(None)
    return out


def time_flufl(raws, scan):
    t0 = time.perf_counter()
    flufl_scan(raws, scan)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--testdata", default=os.environ.get("TESTDATA",
                                                         str(ROOT.parent / "shared" / "testdata")))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--smoke-files", type=int, default=40)
    ap.add_argument("--list", action="store_true",
                    help="also list the messages where the two differ")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    files = messages(args.testdata)
    if not files:
        print(f"bench_bounces: SKIPPED: no messages under {args.testdata}/bounces", flush=True)
        return 0
    try:
        from flufl.bounce import all_failures, scan_message
    except ImportError:
        print("bench_bounces: flufl.bounce is not installed (apt install "
              "python3-flufl.bounce)", file=sys.stderr)
        return 1
    rounds = args.rounds
    if args.smoke:
        files = files[:args.smoke_files]
        rounds = 1
    raws = [f.read_bytes() for f in files]

    reports = dump_reports(binary, files)
    td = [td_addresses(r) for r in reports]
    fl = flufl_scan(raws, scan_message)
    # all_failures gives (temporary, permanent)
    fl_all = flufl_scan(raws, lambda m: set().union(*all_failures(m)))

    # Sanity: the parsers must find something, or the table means nothing.
    if not any(td) or not any(fl):
        raise SystemExit("bench_bounces: one parser found no address in any message")

    groups = collections.OrderedDict((g, collections.Counter()) for g in
                                     ("lhost", "rhost", "rfc3464", "rfc3834", "arf", "not"))
    for f, a, b, c in zip(files, td, fl, fl_all):
        g = groups.setdefault(family(f), collections.Counter())
        g["all"] += 1
        g["td"] += bool(a)
        g["fl"] += bool(b)
        g["fl_all"] += bool(c)
        g["fl_err"] += b is None
        g["both"] += bool(a) and bool(b)
        g["agree"] += bool(a) and bool(b) and a == b
        g["agree_all"] += bool(a) and bool(c) and a == c
        g["td_only"] += bool(a) and not b
        g["fl_only"] += bool(b) and not a
    total, bounces = collections.Counter(), collections.Counter()
    for name, g in groups.items():
        total.update(g)
        # the mails that report a failed delivery: no feedback reports,
        # auto-replies or ordinary mail, where neither has one to find
        if name in ("lhost", "rhost", "rfc3464"):
            bounces.update(g)

    td_times = [time_tagdigest(binary, files) for _ in range(rounds)]
    fl_times = [time_flufl(raws, scan_message) for _ in range(rounds)]
    n = len(files)
    td_best, fl_best = min(td_times), min(fl_times)

    print(f"\n## bounce parsing: tagdigest bounce-dump vs flufl.bounce "
          f"{getattr(sys.modules.get('flufl.bounce'), '__version__', '')}, "
          f"{n} messages of $TESTDATA/bounces")
    print("\nfound: the parser names at least one address; agree: both name the same "
          "addresses. flufl's scan_message reports permanent failures only; the last "
          "columns use all_failures (permanent and temporary).\n")
    print("| family | messages | tagdigest found | flufl found | both | agree "
          "| tagdigest only | flufl only | flufl errors | all_failures found "
          "| agree (all_failures) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, g in list(groups.items()) + [("**bounces** (lhost, rhost, rfc3464)", bounces),
                                           ("**total**", total)]:
        if not g["all"]:
            continue
        print(f"| {name} | {g['all']} | {g['td']} | {g['fl']} | {g['both']} | "
              f"{g['agree']} | {g['td_only']} | {g['fl_only']} | {g['fl_err']} | "
              f"{g['fl_all']} | {g['agree_all']} |")
    if args.list:
        print("\n| message | tagdigest | flufl scan_message |")
        print("|---|---|---|")
        for f, a, b in zip(files, td, fl):
            if (a or b) and a != b:
                print(f"| {f.parent.name}/{f.name} | {', '.join(sorted(a)) or '-'} | "
                      f"{', '.join(sorted(b or ())) or '-'} |")
    print(f"\n| parser | best of {rounds} (s) | messages/s |")
    print("|---|---|---|")
    print(f"| tagdigest bounce-dump (one process, {n} files) | {td_best:.3f} | "
          f"{n / td_best:,.0f} |")
    print(f"| flufl.bounce scan_message (with email.message_from_bytes) | {fl_best:.3f} | "
          f"{n / fl_best:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

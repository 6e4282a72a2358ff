#!/usr/bin/python3
"""Bounce conformance: tagdigest's bounce parser against Sisimai's answers.

The messages are the Sisimai project's set of real bounce mails, and
cases.tsv holds what Sisimai finds in each (../shared/testdata/bounces,
see its MANIFEST.md): one row per failed recipient with its RFC 3463
status, SMTP reply code, reason and hard flag. This runner gives every
message to `tagdigest bounce-dump FILE`, the command an operator would
use, and compares its JSON with those rows.

What agrees:
  count   the number of recipients found equals the number of rows
          (0 for a message that is not a bounce);
  status  recipient i's status equals row i's; a Sisimai-internal status
          (third number 900 or more, "5.0.910") agrees when its class and
          subject agree ("5.0.0"), since only those mean anything outside
          Sisimai; a row without status agrees with none;
  hard    recipient i's hard flag equals row i's;
  reason  recipient i's reason equals row i's (a feedback report's row
          also needs feedback.type equal to the Feedback-Type).

The headline rate is rows whose status and hard flag both agree.

    TAGDIGEST_BIN=build/tagdigest TESTDATA=../shared/testdata \\
        /usr/bin/python3 tests/conformance/run_bounces.py [--misses]
        [--min-status-hard PCT] [--markdown]

Exit status: 0, or 1 when the headline rate is under --min-status-hard
(or a message made bounce-dump fail). When the data is absent: a loud
SKIPPED line and 0.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys


def family(name):
    if name.startswith("rfc3464") or name.startswith("rfc3834") or name.startswith("arf"):
        return re.sub(r"-\d+\.eml$", "", name)
    m = re.match(r"((?:lhost|rhost)-[a-z0-9]+)-", name)
    return m.group(1) if m else "not-bounce"


def status_agrees(want, got):
    if want == "-":
        return not got
    if not got:
        return False
    if want == got:
        return True
    w = want.split(".")
    g = got.split(".")
    if len(w) == 3 and w[2].isdigit() and int(w[2]) >= 900:
        return len(g) == 3 and w[:2] == g[:2]
    return False


def load_cases(root):
    rows = collections.OrderedDict()
    with open(os.path.join(root, "cases.tsv"), encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if not line.strip():
                continue
            r = dict(zip(header, line.rstrip("\n").split("\t")))
            rows.setdefault(r["file"], []).append(r)
    return rows


def dump(binary, path):
    p = subprocess.run([binary, "bounce-dump", path], capture_output=True, timeout=60)
    if p.returncode != 0:
        return None, "exit %d: %s" % (p.returncode, p.stderr.decode(errors="replace").strip()[:200])
    try:
        return json.loads(p.stdout), None
    except ValueError as e:
        return None, "bad JSON: %s" % e


def dump_all(binary, paths, batch=64):
    """bounce-dump on the files a batch at a time (one process per file
    took 1.5 min under ASan); a batch that does not give one JSON line per
    file with exit 0 (a crash, an unreadable file: exit 66) is run again
    one file at a time, so the failure names its file."""
    out = {}
    for i in range(0, len(paths), batch):
        chunk = paths[i:i + batch]
        lines, p = [], None
        try:
            p = subprocess.run([binary, "bounce-dump"] + chunk, capture_output=True,
                               timeout=60 + 5 * len(chunk))
            if p.returncode == 0:
                lines = p.stdout.decode(errors="replace").splitlines()
        except subprocess.TimeoutExpired:
            pass
        if p is not None and p.returncode == 0 and len(lines) == len(chunk):
            try:
                for path, line in zip(chunk, lines):
                    out[path] = (json.loads(line), None)
                continue
            except ValueError:
                pass
        for path in chunk:
            out[path] = dump(binary, path)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("TAGDIGEST_BIN", "build/tagdigest"))
    ap.add_argument("--testdata", default=os.environ.get("TESTDATA", "../shared/testdata"))
    ap.add_argument("--misses", action="store_true", help="list every disagreement")
    ap.add_argument("--min-status-hard", type=float, default=None)
    ap.add_argument("--markdown", action="store_true", help="the tally as a Markdown table")
    ap.add_argument("files", nargs="*", help="only these message names")
    a = ap.parse_args()

    root = os.path.join(a.testdata, "bounces")
    if not os.path.isfile(os.path.join(root, "cases.tsv")):
        print("SKIPPED: bounce conformance: no %s/cases.tsv (set TESTDATA)" % root)
        print("SKIPPED " * 8)
        return 0

    cases = load_cases(root)
    per = collections.OrderedDict()
    tot = collections.Counter()
    misses = []
    failures = 0
    def path_of(name, want):
        return os.path.join(root, "not" if want[0]["reason"] == "not-bounce" else "bsd", name)
    dumps = dump_all(a.bin, [path_of(n, w) for n, w in cases.items()
                             if not a.files or n in a.files])
    for name, want in cases.items():
        if a.files and name not in a.files:
            continue
        nonbounce = want[0]["reason"] == "not-bounce"
        path = path_of(name, want)
        fam = family(name)
        c = per.setdefault(fam, collections.Counter())
        got, problem = dumps[path]
        if got is None:
            failures += 1
            misses.append("%s: bounce-dump failed: %s" % (name, problem))
            got = {"recipients": [], "feedback": None, "bounce": False}
        recips = got.get("recipients") or []
        expected = [] if nonbounce else want
        c["files"] += 1
        if len(recips) == len(expected):
            c["count"] += 1
        else:
            misses.append("%s: count: want %d, got %d" % (name, len(expected), len(recips)))
        if nonbounce:
            c["rows"] += 1
            ok = len(recips) == 0
            for k in ("status", "hard", "status_hard", "reason"):
                c[k] += ok
            continue
        fb = got.get("feedback") or {}
        for i, row in enumerate(want):
            c["rows"] += 1
            r = recips[i] if i < len(recips) else {}
            s_ok = status_agrees(row["status"], r.get("status"))
            h_ok = bool(r) and (row["hard"] == "true") == bool(r.get("hard"))
            if row["reason"] == "feedback":
                r_ok = r.get("reason") == "feedback" and fb.get("type") == row["extra"]
            else:
                r_ok = r.get("reason") == row["reason"]
            c["status"] += s_ok
            c["hard"] += h_ok
            c["status_hard"] += s_ok and h_ok
            c["reason"] += r_ok
            if not (s_ok and h_ok and r_ok):
                misses.append("%s #%s: want status=%s hard=%s reason=%s%s; got status=%s hard=%s reason=%s (%s)"
                              % (name, row["index"], row["status"], row["hard"], row["reason"],
                                 "/" + row["extra"] if row["extra"] != "-" else "",
                                 r.get("status"), r.get("hard"), r.get("reason"),
                                 r.get("address", "no recipient")))
    for c in per.values():
        tot.update(c)

    def pct(n, d):
        return 100.0 * n / d if d else 100.0

    cols = ("files", "count", "rows", "status", "hard", "status_hard", "reason")
    if a.markdown:
        print("| family | files | count agrees | rows | status | hard | status+hard | reason |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for fam in sorted(per):
            c = per[fam]
            print("| %s | %d | %d | %d | %d | %d | %d | %d |" % ((fam,) + tuple(c[k] for k in cols)))
        print("| **total** | %d | %d | %d | %d | %d | %d | %d |" % tuple(tot[k] for k in cols))
    else:
        print("%-24s %5s %5s %5s %6s %5s %6s %6s" % ("family", "files", "count", "rows",
                                                   "status", "hard", "st+hd", "reason"))
        for fam in sorted(per):
            c = per[fam]
            print("%-24s %5d %5d %5d %6d %5d %6d %6d" % ((fam,) + tuple(c[k] for k in cols)))
    rows = tot["rows"]
    print("bounce conformance: %d messages, %d rows: count %.1f%% of messages, status %.1f%%, "
          "hard %.1f%%, status+hard %.1f%%, reason %.1f%% of rows"
          % (tot["files"], rows, pct(tot["count"], tot["files"]), pct(tot["status"], rows),
             pct(tot["hard"], rows), pct(tot["status_hard"], rows), pct(tot["reason"], rows)))
    if a.misses:
        for m in misses:
            print("MISS " + m)
    rc = 0
    if failures:
        print("FAIL: bounce-dump failed on %d message(s)" % failures)
        rc = 1
    if a.min_status_hard is not None and pct(tot["status_hard"], rows) < a.min_status_hard:
        print("FAIL: status+hard %.1f%% is under %.1f%%" % (pct(tot["status_hard"], rows),
                                                          a.min_status_hard))
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())

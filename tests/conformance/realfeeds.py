#!/usr/bin/python3
"""Real feeds: every file in ../shared/testdata/realfeeds parses cleanly,
and its item count and titles agree with what an independent parser read
(feed-rs: entries[].title.content; rss-parser: items[].title).

Titles are compared after decoding entities, dropping tags (when ours is
an HTML title) and collapsing white space, because each library spells the
same text differently.

    TAGDIGEST_BIN=build/tagdigest TESTDATA=../shared/testdata \\
        /usr/bin/python3 tests/conformance/realfeeds.py

Exit status 0 when every feed agrees (or the data is absent: a loud
SKIPPED line), 1 otherwise. Closing line: "realfeeds: N passed, N failed".
"""

import html
import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FEED_EXT = (".xml", ".rss", ".atom", ".rdf")


def norm(text):
    if text is None:
        return ""
    text = html.unescape(text)
    return re.sub(r"\s+", " ", text).strip()


def our_title(entry):
    title = entry.get("title", "")
    detail = entry.get("title_detail", {})
    if detail.get("type") in ("text/html", "application/xhtml+xml"):
        title = re.sub(r"<[^>]*>", "", title)
    return norm(title)


def read_text(path):
    """expected/encoding.json is stored in ISO-8859-1, the others in UTF-8."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")


def expected_titles(folder, name):
    stem = os.path.splitext(name)[0]
    if folder.endswith("feed-rs"):
        path = os.path.join(folder, "expected", stem + ".serde.json")
        if not os.path.exists(path):
            return None
        data = json.loads(read_text(path))
        return [norm((e.get("title") or {}).get("content")) for e in data.get("entries", [])]
    if folder.endswith("rss-parser"):
        path = os.path.join(folder, "expected", stem + ".json")
        if not os.path.exists(path):
            return None
        data = json.loads(read_text(path))
        return [norm(i.get("title")) for i in data["feed"].get("items", [])]
    return None


def main():
    testdata = os.path.abspath(os.environ.get("TESTDATA") or
                               os.path.join(REPO, "..", "shared", "testdata"))
    root = os.path.join(testdata, "realfeeds")
    if not os.path.isdir(root):
        print("realfeeds: SKIPPED -- no test data at %s (set TESTDATA)" % root)
        print("realfeeds: 0 passed, 0 failed (SKIPPED)")
        return 0
    binary = os.environ.get("TAGDIGEST_BIN") or os.path.join(REPO, "build", "tagdigest")
    passed = failed = 0
    for sub in sorted(os.listdir(root)):
        folder = os.path.join(root, sub)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith(FEED_EXT):
                continue
            rel = "%s/%s" % (sub, name)
            proc = subprocess.run([binary, "feed-dump", os.path.join(folder, name)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=60)
            problems = []
            if proc.returncode != 0:
                problems.append("exit %d: %s" % (proc.returncode,
                                                 proc.stderr.decode("utf-8", "replace")[-400:]))
                result = None
            else:
                result = json.loads(proc.stdout.decode("utf-8"))
                if result["bozo"]:
                    problems.append("bozo: %s" % result["bozo_exception"])
            want = expected_titles(folder, name)
            got = [our_title(e) for e in result["entries"]] if result else []
            if result and want is not None:
                if len(got) != len(want):
                    problems.append("%d items, expected %d" % (len(got), len(want)))
                for i, (g, w) in enumerate(zip(got, want)):
                    if g != w:
                        problems.append("item %d title %r, expected %r" % (i + 1, g, w))
            note = "%d items" % len(got)
            if want is None:
                note += " (no expected/ file: parse check only)"
            if problems:
                failed += 1
                print("FAIL  %-45s %s" % (rel, note))
                for p in problems[:10]:
                    print("      %s" % p)
            else:
                passed += 1
                print("ok    %-45s %s" % (rel, note))
    print("realfeeds: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Seed inputs for the fuzz targets that cannot take a folder as it is.

    seeds.py OUT TESTDATA

OUT/template/  every template and partial of the Mustache spec suite
               (TESTDATA/mustache-spec/*.json), one file each; read here,
               at run time, never copied into the repository. Without the
               suite this says SKIPPED, loudly, and the target is seeded
               from templates/ alone.
OUT/header/    fuzz_header.c inputs: a selector byte (0: From display
               name, 1: Subject) and a subscriber name from subscribers/
               or a post title from posts/.

The other targets read their seed folders directly (config/, posts/,
subscribers/, templates/).
"""
import csv
import json
import pathlib
import sys


def write(out, name, data):
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(data)


def templates(out, testdata):
    spec = pathlib.Path(testdata) / "mustache-spec"
    files = sorted(spec.glob("*.json")) if spec.is_dir() else []
    if not files:
        bar = "!" * 60
        print(f"\n{bar}\nSKIPPED: mustache spec seeds: no suite at {spec};\n"
              f"fuzz_template is seeded from templates/ only\n{bar}\n")
        (out / "template").mkdir(parents=True, exist_ok=True)
        return
    n = 0
    for f in files:
        for i, test in enumerate(json.loads(f.read_text("utf-8"))["tests"]):
            write(out / "template", f"{f.stem}-{i}", test["template"].encode())
            n += 1
            for name, text in sorted(test.get("partials", {}).items()):
                write(out / "template", f"{f.stem}-{i}-{name}", text.encode())
                n += 1
    print(f"seeds: {n} templates from {spec}")


def headers(out, root):
    texts = []
    for f in sorted((root / "subscribers").glob("*.csv")):
        with f.open(encoding="utf-8-sig", newline="") as fh:
            texts += [row.get("name", "") for row in csv.DictReader(fh)]
    for f in sorted((root / "posts").glob("*.md")):
        for line in f.read_text("utf-8").splitlines():
            if line.startswith("title:"):
                texts.append(line[6:].strip().strip("'\""))
                break
    for i, t in enumerate(t for t in texts if t):
        for sel in (0, 1):
            write(out / "header", f"{i}-{sel}", bytes([sel]) + t.encode())


def main():
    out, testdata = pathlib.Path(sys.argv[1]), sys.argv[2]
    root = pathlib.Path(__file__).resolve().parents[2]
    templates(out, testdata)
    headers(out, root)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""make bench: feed ingest throughput.

Generates a WordPress-style RSS 2.0 feed of 1,000 items (content:encoded
HTML with links, images and a script to strip, several categories,
dc:creator, pubDate) and times, in the same run and on the same file:

- tagdigest ingest of a config whose one source is that feed (file:// URL):
  read, parse with libxml2, sanitize every item's HTML, derive excerpts,
  store in SQLite;
- python3-feedparser's feedparser.parse() on the file (HTML sanitizing on,
  its default), the usual Python way;
- libxml2's own `xmllint --noout` (parse only), as the floor.

Each is run several times; the best run counts. Prints items/s and MB/s
and the ratios.
"""
import argparse
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def make_feed(path, items=1000):
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n'
             '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
             ' xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
             '<title>Bench Blog &#8211; Sergey Lavrov</title>\n'
             '<link>https://bench.test</link>\n<description>Tag archive</description>\n']
    for i in range(items):
        body = "".join(
            f"<p>Paragraph {j} of post {i} with <a href=\"/2026/{i}/ref{j}\">a link</a>, "
            f"<em>emphasis</em> and “smart quotes” – ünïcödé.</p>" for j in range(6))
        body += f'<p><img src="https://bench.test/img/{i}.jpg" alt="pic {i}" onerror="x()"></p>'
        body += "<script>alert(1)</script>"
        parts.append(
            f"<item>\n<title>Post {i}: Lavrov &amp; the “roadmap”</title>\n"
            f"<link>https://bench.test/2026/11/{i}/post-{i}/</link>\n"
            f"<dc:creator><![CDATA[Desk {i % 7}]]></dc:creator>\n"
            f"<pubDate>Fri, {1 + i % 27:02d} Nov 2026 10:{i % 60:02d}:00 +0000</pubDate>\n"
            f"<category><![CDATA[Sergey Lavrov]]></category>\n"
            f"<category><![CDATA[Topic {i % 12}]]></category>\n"
            f'<guid isPermaLink="false">https://bench.test/?p={i}</guid>\n'
            f"<description><![CDATA[Summary of post {i} about the roadmap [&#8230;]]]></description>\n"
            f"<content:encoded><![CDATA[{body}]]></content:encoded>\n</item>\n")
    parts.append("</channel>\n</rss>\n")
    path.write_text("".join(parts), encoding="utf-8")


def best_of(runs, fn):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="td-bench-ingest-"))
    try:
        feed = tmp / "feed.xml"
        make_feed(feed, args.items)
        mb = feed.stat().st_size / 1e6
        shutil.copytree(ROOT / "templates", tmp / "templates")
        (tmp / "subscribers.csv").write_text("email,name,tags\n", encoding="utf-8")

        def td_ingest():
            # a fresh store each time, so every item is parsed and stored
            shutil.rmtree(tmp / "var", ignore_errors=True)
            conf = tmp / "tagdigest.conf"
            conf.write_text(
                "[site]\nname = B\nurl = https://bench.test\nfrom = d@bench.test\n"
                "[store]\npath = var/store.db\n[subscribers]\npath = subscribers.csv\n"
                f"[templates]\ndir = templates\n[source.blog]\ntype = feed\nurl = file://{feed}\n",
                encoding="utf-8")
            p = subprocess.run([args.bin, "-c", str(conf), "ingest"], capture_output=True, text=True)
            if p.returncode != 0 or f"{args.items} new" not in p.stdout:
                raise SystemExit(f"tagdigest ingest failed: {p.stdout}{p.stderr}")

        def fp():
            subprocess.run(["/usr/bin/python3", "-c",
                            "import feedparser,sys; d=feedparser.parse(sys.argv[1]); "
                            "assert len(d.entries) == int(sys.argv[2])", str(feed), str(args.items)],
                           check=True)

        def xl():
            subprocess.run(["xmllint", "--noout", str(feed)], check=True)

        results = {}
        for name, fn in (("tagdigest ingest", td_ingest), ("python3-feedparser", fp),
                         ("xmllint --noout", xl)):
            best, median = best_of(args.runs, fn)
            results[name] = best
            print(f"{name:20s} best {best:.3f} s (median {median:.3f} s): "
                  f"{args.items / best:,.0f} items/s, {mb / best:.1f} MB/s")
        td = results["tagdigest ingest"]
        print(f"feed: {args.items} items, {mb:.2f} MB; tagdigest is "
              f"{results['python3-feedparser'] / td:.1f}x feedparser and "
              f"{results['xmllint --noout'] / td:.2f}x xmllint --noout (which only parses)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

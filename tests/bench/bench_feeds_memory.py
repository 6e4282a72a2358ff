#!/usr/bin/env python3
"""make bench: peak memory of ingesting many large feeds (issue 9, item 12).

Serves N generated WordPress-style RSS feeds of about M MB each from a
Python HTTP server on loopback and runs `tagdigest ingest` on a config with
those N feed sources (fetch.parallel at its default, 4) under
/usr/bin/time -v, which reports the peak resident set size. Each feed's
items are its own (guids and links carry the feed's number), so every item
is parsed, sanitized and stored.

Before issue 9 every body was held until the last download ended, so the
peak grew with N; now each feed is stored as its download ends and freed,
so the peak follows fetch.parallel. --feeds takes several counts
("10,40") to show that; --peer BIN runs another build the same way (e.g.
one of the commit before).
"""
import argparse
import http.server
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def feed_template(mb):
    """One feed of about `mb` MB, with {F} where the feed's number goes."""
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
            '<channel><title>Bench tag {F}</title><link>https://bench.test/</link>\n')
    parts, size, i = [head], len(head), 0
    while size < mb * 1_000_000 - 12_000:
        body = "".join(
            f"<p>Paragraph {j} of post {i} in tag {{F}}, with <a href=\"/2026/{i}/r{j}\">a "
            f"link</a>, <em>emphasis</em> and “quotes” – ünïcödé text to sanitize.</p>"
            for j in range(60))
        it = (f"<item><title>Post {i} of tag {{F}}</title>"
              f"<link>https://bench.test/{{F}}/2026/{i}/</link>"
              f'<guid isPermaLink="false">https://bench.test/?tag={{F}}&amp;p={i}</guid>'
              f"<pubDate>Fri, 27 Nov 2026 10:00:00 +0000</pubDate>"
              f"<category>Tag {{F}}</category><category>Topic {i % 12}</category>"
              f"<description><![CDATA[Summary of post {i}.]]></description>"
              f"<content:encoded><![CDATA[{body}<script>x()</script>]]></content:encoded>"
              "</item>\n")
        parts.append(it)
        size += len(it.encode())
        i += 1
    parts.append("</channel></rss>\n")
    return "".join(parts).encode(), i


def serve(template):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            m = re.fullmatch(r"/tag/(\d+)/feed/", self.path)
            if not m:
                self.send_error(404)
                return
            body = template.replace(b"{F}", m.group(1).encode())
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def ingest(binary, tmp, base, nfeeds):
    """(peak RSS in MiB, seconds, stdout) of one ingest into a fresh store."""
    shutil.rmtree(tmp / "var", ignore_errors=True)
    conf = tmp / "tagdigest.conf"
    conf.write_text(
        "[site]\nname = B\nurl = https://bench.test\nfrom = d@bench.test\n"
        "[store]\npath = var/store.db\n[subscribers]\npath = subscribers.csv\n"
        "[templates]\ndir = templates\n"
        + "".join(f"[source.tag{k}]\ntype = feed\nurl = {base}/tag/{k}/feed/\n"
                  for k in range(nfeeds)), encoding="utf-8")
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", binary, "-c", str(conf), "ingest"],
                       capture_output=True, text=True)
    took = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{binary} ingest failed:\n{p.stdout}{p.stderr}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return kb / 1024, took, p.stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--peer", help="another tagdigest build to measure the same way")
    ap.add_argument("--feeds", default="40", help="feed counts, comma-separated")
    ap.add_argument("--mb", type=float, default=9.0, help="size of each feed in MB")
    args = ap.parse_args()
    counts = [int(c) for c in args.feeds.split(",")]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="td-bench-feeds-"))
    srv = None
    try:
        template, items = feed_template(args.mb)
        srv = serve(template)
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        shutil.copytree(ROOT / "templates", tmp / "templates")
        (tmp / "subscribers.csv").write_text("email,name,tags\n", encoding="utf-8")
        print(f"each feed: {len(template) / 1e6:.1f} MB, {items} items; fetch.parallel 4")
        for label, binary in (("tagdigest", args.bin), ("peer", args.peer)):
            if not binary:
                continue
            for n in counts:
                rss, took, out = ingest(binary, tmp, base, n)
                if f"{n * items} new" not in out:
                    raise SystemExit(f"{binary}: expected {n * items} new posts: {out}")
                print(f"{label:9s} {n:3d} feeds: peak RSS {rss:7.1f} MiB, {took:6.1f} s "
                      f"({n * len(template) / 1e6 / took:.1f} MB/s)")
    finally:
        if srv:
            srv.shutdown()
            srv.server_close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

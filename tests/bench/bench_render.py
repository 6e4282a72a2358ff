#!/usr/bin/env python3
"""make bench: digests per second through the renderer and MIME builder.

Every subscriber gets a 10-post digest (cap 10; they follow tags with more
than 10 new posts). tagdigest is timed with `send --dry-run`, which does
the whole composition (store queries, Mustache templates, quoted-printable
MIME with RFC 2047 headers and a signed unsubscribe token) and writes
nothing. In the same run the peer does the same work the usual Python way:
posts from the same SQLite store (read once and cached, which favours the
peer), Jinja2 templates with autoescaping for the text and HTML parts, and
the standard library's email package building and serialising a
multipart/alternative quoted-printable message.

The site is ingested once; then --runs (default 3) timed runs of each,
tagdigest and the peer alternating, and the median and the spread
(min-max) of the rates and of each run's ratio.
"""
import argparse
import email.message
import email.policy
import pathlib
import shutil
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import jinja2

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_send import ROOT, make_site  # noqa: E402

TEXT = jinja2.Template("""{{ site }}: your weekly digest

Hello {{ name }},
{% for s in sections %}
{{ s.name }}
{{ '-' * s.name|length }}
{% for p in s.posts %}
[{{ p.n }}] {{ p.title }}
    {{ p.author }}
    {{ p.excerpt_text|wordwrap(68) }}
{% endfor %}{% endfor %}
Links:
{% for s in sections %}{% for p in s.posts %}[{{ p.n }}] {{ p.url }}
{% endfor %}{% endfor %}
Unsubscribe: {{ unsub }}
""")
HTML = jinja2.Environment(autoescape=True).from_string("""<!DOCTYPE html><html><body>
<table role="presentation" width="600"><tr><td><h1>{{ site }}</h1><p>Hello {{ name }},</p></td></tr>
{% for s in sections %}<tr><td><h2>{{ s.name }}</h2>
{% for p in s.posts %}<h3><a href="{{ p.url }}">{{ p.title }}</a></h3>
<div>{{ p.author }}</div><div>{{ p.excerpt_html|safe }}</div>
{% endfor %}</td></tr>{% endfor %}
<tr><td><a href="{{ unsub }}">Unsubscribe</a></td></tr></table></body></html>""")


def peer(store, subs_csv, max_posts=10):
    db = sqlite3.connect(store)
    cache = {}
    import csv
    count = 0
    with open(subs_csv, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            seen, sections, n = set(), [], 0
            for tag in row["tags"].split(";"):
                if tag not in cache:
                    cache[tag] = db.execute(
                        "SELECT p.seq, p.title, p.url, p.author, p.excerpt_text, p.excerpt_html"
                        " FROM post_tags t JOIN posts p ON p.seq = t.seq WHERE t.tag = ?"
                        " ORDER BY p.published DESC", (tag,)).fetchall()
                posts = []
                for r in cache[tag]:
                    if r[0] in seen or n >= max_posts:
                        continue
                    seen.add(r[0])
                    n += 1
                    posts.append(dict(n=n, title=r[1], url=r[2], author=r[3],
                                      excerpt_text=r[4], excerpt_html=r[5]))
                if posts:
                    sections.append(dict(name=tag, posts=posts))
            ctx = dict(site="Bench Weekly", name=row["name"], sections=sections,
                       unsub="https://bench.test/unsubscribe/token")
            msg = email.message.EmailMessage(policy=email.policy.SMTP)
            msg["From"] = "Bench Weekly <digest@bench.test>"
            msg["To"] = f"{row['name']} <{row['email']}>"
            msg["Subject"] = f"Bench Weekly: {n} new posts"
            msg["List-Unsubscribe"] = "<https://bench.test/unsubscribe/token>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            msg.set_content(TEXT.render(ctx), cte="quoted-printable")
            msg.add_alternative(HTML.render(ctx), subtype="html", cte="quoted-printable")
            msg.as_bytes()
            count += 1
    return count


def compose_once(binary, conf):
    """One timed `send --dry-run` of the ingested site: (digests, seconds)."""
    t0 = time.perf_counter()
    p = subprocess.run([binary, "-c", str(conf), "send", "--dry-run"],
                       check=True, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    return int(re.search(r"(\d+) would be sent", p.stdout).group(1)), secs


def spread(values, fmt=".0f"):
    """median, min and max of values, as one "m (lo-hi)" text."""
    return (f"{statistics.median(values):{fmt}} "
            f"({min(values):{fmt}}-{max(values):{fmt}})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--subscribers", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3,
                    help="timed runs of each, tagdigest and the peer alternating (default 3)")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="td-bench-render-"))
    try:
        # 120 posts over 12 tags (about 20 per tag): every digest hits the cap of 10
        conf = make_site(tmp, args.subscribers)
        subprocess.run([args.bin, "-q", "-c", str(conf), "ingest"], check=True,
                       capture_output=True)
        td_rates, peer_rates, ratios = [], [], []
        # alternating, so load from elsewhere on the machine falls on both
        for run in range(args.runs):
            done, td_secs = compose_once(args.bin, conf)
            t0 = time.perf_counter()
            peer_count = peer(tmp / "var" / "store.db", tmp / "subscribers.csv")
            peer_secs = time.perf_counter() - t0
            td_rates.append(done / td_secs)
            peer_rates.append(peer_count / peer_secs)
            ratios.append(td_rates[-1] / peer_rates[-1])
            print(f"run {run + 1}: tagdigest {done} in {td_secs:.2f} s = {td_rates[-1]:.0f} digests/s; "
                  f"Python email + Jinja2 {peer_count} in {peer_secs:.2f} s = "
                  f"{peer_rates[-1]:.0f} digests/s; ratio {ratios[-1]:.2f}x")
        print(f"10-post digests, median (min-max) of {args.runs} runs: "
              f"tagdigest {spread(td_rates)} digests/s; Python email + Jinja2 "
              f"{spread(peer_rates)} digests/s; ratio {spread(ratios, '.2f')}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

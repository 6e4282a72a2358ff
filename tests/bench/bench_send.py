#!/usr/bin/env python3
"""make bench: how fast `tagdigest send` composes digests into a Maildir.

Generates a site with N subscribers (default 10,000) and 120 posts over 12
tags, ingests it, then times `tagdigest send` into a Maildir. In the same
run it times a peer doing the same job the way a small newsroom's script
would: Python reading the same SQLite store, rendering the same kind of
text and HTML digest, building the MIME message with the standard
library's email package and writing it with mailbox.Maildir. Prints
digests per second for both, their ratio and tagdigest's peak RSS.
"""
import argparse
import email.message
import email.policy
import html
import mailbox
import os
import pathlib
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
TAGS = ["sergey-lavrov", "nato", "north-korea", "usa", "eu", "uk", "iran",
        "china", "diplomacy", "ukraine", "syria", "un"]


def make_site(root, n_subs, n_posts=120):
    rnd = random.Random(42)
    posts = root / "posts"
    posts.mkdir(parents=True)
    for i in range(n_posts):
        tags = rnd.sample(TAGS, 2)
        body = " ".join(f"Sentence {j} of post {i} about {tags[0]}, with ümlauts." for j in range(12))
        (posts / f"p{i:04d}.md").write_text(
            f"---\ntitle: Generated post {i} on {tags[0]} – “quoted”\n"
            f"date: 2026-11-{1 + i % 26:02d}T10:00:00Z\ntags: [{', '.join(tags)}]\n"
            f"url: https://bench.test/p/{i}/\nauthor: Bench Desk\n---\n{body}\n\nSecond paragraph.\n",
            encoding="utf-8")
    with open(root / "subscribers.csv", "w", encoding="utf-8") as f:
        f.write("email,name,tags\n")
        for i in range(n_subs):
            f.write(f"reader{i}@example.org,Reader Nummer {i} Müller,{';'.join(rnd.sample(TAGS, rnd.randint(1, 3)))}\n")
    shutil.copytree(ROOT / "templates", root / "templates")
    conf = root / "tagdigest.conf"
    conf.write_text(
        "[site]\nname = Bench Weekly\nurl = https://bench.test\nfrom = digest@bench.test\n"
        "[store]\npath = var/store.db\n[schedule]\nday = monday\ntime = 08:00\ntimezone = UTC\n"
        "[digest]\nmax_posts = 10\n[subscribers]\npath = subscribers.csv\n[templates]\ndir = templates\n"
        f"[transport]\ntype = maildir\npath = {root / 'outbox'}\n"
        "[source.posts]\ntype = posts\npath = posts\n", encoding="utf-8")
    return conf


def peer(store, subs_csv, outdir, max_posts=10):
    """The same job in Python: query, render, MIME, Maildir."""
    db = sqlite3.connect(store)
    box = mailbox.Maildir(outdir, create=True)
    import csv
    count = 0
    since = int(time.time()) - 7 * 86400
    with open(subs_csv, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            tags = row["tags"].split(";")
            seen, sections, shown = set(), [], 0
            for tag in tags:
                rows = db.execute(
                    "SELECT p.seq, p.title, p.url, p.author, p.published, p.excerpt_text, p.excerpt_html"
                    " FROM post_tags t JOIN posts p ON p.seq = t.seq WHERE t.tag = ? AND p.ingested_at >= ?"
                    " ORDER BY p.published DESC", (tag, since)).fetchall()
                posts = [r for r in rows if r[0] not in seen]
                seen.update(r[0] for r in posts)
                keep = posts[:max(0, max_posts - shown)]
                shown += len(keep)
                if posts:
                    sections.append((tag, keep, len(posts) - len(keep)))
            if not sections:
                continue
            text = [f"Bench Weekly: your weekly digest\n\nHello {row['name']},\n"]
            page = [f"<html><body><h1>Bench Weekly</h1><p>Hello {html.escape(row['name'])},</p>"]
            for tag, posts, more in sections:
                text.append(f"{tag}\n{'-' * len(tag)}\n")
                page.append(f"<h2>{html.escape(tag)}</h2>")
                for p in posts:
                    text.append(f"* {p[1]}\n  {p[3]}\n  {p[5]}\n  {p[2]}\n")
                    page.append(f'<h3><a href="{html.escape(p[2])}">{html.escape(p[1])}</a></h3>{p[6]}')
                if more:
                    text.append(f"  ...and {more} more\n")
            msg = email.message.EmailMessage(policy=email.policy.SMTP)
            msg["From"] = "Bench Weekly <digest@bench.test>"
            msg["To"] = f"{row['name']} <{row['email']}>"
            msg["Subject"] = f"Bench Weekly: {len(seen)} new posts"
            msg["List-Unsubscribe"] = "<https://bench.test/unsubscribe/x>"
            msg.set_content("\n".join(text), cte="quoted-printable")
            msg.add_alternative("".join(page) + "</body></html>", subtype="html", cte="quoted-printable")
            box.add(msg)
            count += 1
    return count


def ingest_and_compose(binary, conf):
    """Ingest the site, then time `send --dry-run` (composition alone: every
    digest rendered, nothing written). Returns (digests, seconds)."""
    subprocess.run([binary, "-q", "-c", str(conf), "ingest"], check=True, capture_output=True)
    t0 = time.perf_counter()
    p = subprocess.run([binary, "-c", str(conf), "send", "--dry-run"],
                       check=True, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    return int(re.search(r"(\d+) would be sent", p.stdout).group(1)), secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--subscribers", type=int, default=10000)
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="td-bench-"))
    try:
        conf = make_site(tmp, args.subscribers)
        composed, dry_secs = ingest_and_compose(args.bin, conf)
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", args.bin, "-c", str(conf), "send"],
                           check=True, capture_output=True, text=True)
        td_secs = time.perf_counter() - t0
        rss_kb = int(p.stderr.strip().splitlines()[-1])
        sent = int(re.search(r"(\d+) sent", p.stdout).group(1))
        files = len(os.listdir(tmp / "outbox" / "new"))
        assert files == sent, (files, sent)
        avg = sum(f.stat().st_size for f in (tmp / "outbox" / "new").iterdir()) / max(files, 1)

        t0 = time.perf_counter()
        peer_count = peer(tmp / "var" / "store.db", tmp / "subscribers.csv", str(tmp / "peer"))
        peer_secs = time.perf_counter() - t0

        td_rate, peer_rate = sent / td_secs, peer_count / peer_secs
        print(f"subscribers: {args.subscribers}, digests: tagdigest {sent}, peer {peer_count}, "
              f"average message {avg / 1024:.1f} KiB")
        print(f"tagdigest send --dry-run (compose only): {dry_secs:.2f} s, {composed / dry_secs:.0f} digests/s")
        print(f"tagdigest send -> Maildir: {td_secs:.2f} s, {td_rate:.0f} digests/s, peak RSS {rss_kb / 1024:.1f} MiB")
        print(f"python email + mailbox peer: {peer_secs:.2f} s, {peer_rate:.0f} digests/s")
        print(f"ratio tagdigest/peer: {td_rate / peer_rate:.2f}x "
              "(tagdigest fsyncs each message and its folder; the peer does not)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

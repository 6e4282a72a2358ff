#!/usr/bin/env python3
"""make bench: feed ingest throughput.

Generates an RSS 2.0 feed of 1,000 items (content:encoded HTML with links,
images and a script to strip, two categories, dc:creator, pubDate; 1.38 MB)
or, with --wordpress, the feed WordPress writes (3.4 MB: about 2 KB of
block-editor HTML per item with figures, srcset images, headings, lists,
quotes, an embedded iframe and a script to strip, entities; 3-5 categories,
comments, guid, wfw: and slash: elements, an excerpt with "The post ...
appeared first on ...") and times, in the same run and on the same file:

- tagdigest ingest of a config whose one source is that feed (file:// URL):
  read, parse with libxml2, sanitize every item's HTML, derive excerpts,
  store in SQLite;
- python3-feedparser's feedparser.parse() on the file (HTML sanitizing on,
  its default), the usual Python way;
- libxml2's own `xmllint --noout` (parse only), as the floor.

Each is run --runs times, alternating; prints the median with the spread
(min-max) of each, items/s and MB/s at the median, and the ratios of the
medians; the same for CPU time (user + system), which on a loaded machine
does not count the wait for a core or the disk. --write-feed PATH only writes the feed (for profiling and
tests/bench/ingest_same.sh).
"""
import argparse
import pathlib
import random
import resource
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


# What a WordPress 6 site's /feed/ holds: words for the prose, the site's
# categories (some with entities and non-ASCII), its authors.
WP_WORDS = ("the city council budget transit housing plan vote week report "
            "residents school water park road station market festival data "
            "survey museum harbour bridge library zoning meeting season").split()
WP_CATS = ["News", "Local", "City Hall", "Transit &amp; Roads", "Housing", "Schools",
           "Environment", "Culture", "Arts &amp; Music", "Food", "Sport", "Opinion",
           "Business", "Weather", "Health", "Science", "Caf\u00e9s", "Events",
           "M\u00fcnchen", "Photo", "Video", "Interviews", "History", "Parks",
           "Elections", "Police", "Courts", "Tech", "Startups", "Markets"]
WP_AUTHORS = ["Ana Ruiz", "Jonas M\u00fcller", "Priya Natarajan", "Tom O&#8217;Brien",
              "Li Wei", "Sam Okafor"]


def wp_sentence(rnd, n):
    w = [rnd.choice(WP_WORDS) for _ in range(n)]
    return " ".join(w).capitalize()


def wp_body(rnd, i, site):
    img = f"{site}/wp-content/uploads/2026/11/photo-{i}"
    srcset = ", ".join(f"{img}-{w}x{w * 2 // 3}.jpg {w}w" for w in (1024, 300, 768))
    out = [f'<p>{wp_sentence(rnd, 9)}, with <strong>{rnd.choice(WP_WORDS)}</strong> and '
           f'<a href="https://example.org/{rnd.choice(WP_WORDS)}/{i}">a source</a> '
           f'&#8220;quoted&#8221; &amp; the council&#8217;s {rnd.choice(WP_WORDS)} '
           f'&#8211; {wp_sentence(rnd, 8).lower()}.</p>',
           f'<figure class="wp-block-image size-large"><img decoding="async" loading="lazy" '
           f'width="1024" height="683" src="{img}-1024x683.jpg" alt="{wp_sentence(rnd, 4)}" '
           f'class="wp-image-{i + 5000}" srcset="{srcset}" '
           f'sizes="(max-width: 1024px) 100vw, 1024px" /><figcaption class="wp-element-caption">'
           f'{wp_sentence(rnd, 6)} &#8211; photo: {rnd.choice(WP_AUTHORS)}</figcaption></figure>',
           f'<h2 class="wp-block-heading" id="h-{i}">{wp_sentence(rnd, 4)}</h2>',
           f'<p>{wp_sentence(rnd, 14)}. <em>{wp_sentence(rnd, 5)}</em> '
           f'<a href="{site}/2026/10/{i % 28 + 1:02d}/related-{i}/">{wp_sentence(rnd, 3)}</a>.</p>',
           '<ul class="wp-block-list">' + "".join(
               f"<li>{wp_sentence(rnd, 6)}</li>" for _ in range(rnd.randint(2, 4))) + "</ul>",
           f'<blockquote class="wp-block-quote"><p>{wp_sentence(rnd, 9)}.</p>'
           f'<cite>{rnd.choice(WP_AUTHORS)}</cite></blockquote>',
           f'<p>{wp_sentence(rnd, 10)}&nbsp;&#8230;</p>']
    if i % 3 == 0:
        out.append('<figure class="wp-block-embed is-type-video is-provider-youtube '
                   'wp-block-embed-youtube wp-embed-aspect-16-9 wp-has-aspect-ratio">'
                   '<div class="wp-block-embed__wrapper">\n<iframe loading="lazy" '
                   f'title="{wp_sentence(rnd, 4)}" width="500" height="281" '
                   f'src="https://www.youtube.com/embed/v{i}?feature=oembed" frameborder="0" '
                   'allow="accelerometer; autoplay; clipboard-write; encrypted-media; '
                   'gyroscope; picture-in-picture; web-share" allowfullscreen></iframe>\n'
                   '</div></figure>')
    else:
        out.append('<blockquote class="twitter-tweet"><p lang="en" dir="ltr">'
                   f'{wp_sentence(rnd, 10)}</p>&mdash; Desk (@desk) '
                   f'<a href="https://twitter.com/desk/status/{10 ** 17 + i}">'
                   'November 5, 2026</a></blockquote> <script async '
                   'src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>')
    out.append(f'<p>{wp_sentence(rnd, 12)} <span style="color:#c00" onclick="t()">'
               f'{rnd.choice(WP_WORDS)}</span>.</p>')
    return "\n\n".join(out)


def make_wordpress_feed(path, items=1000):
    rnd = random.Random(14)
    site = "https://news.example.com"
    parts = ['<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"\n'
             '\txmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
             '\txmlns:wfw="http://wellformedweb.org/CommentAPI/"\n'
             '\txmlns:dc="http://purl.org/dc/elements/1.1/"\n'
             '\txmlns:atom="http://www.w3.org/2005/Atom"\n'
             '\txmlns:sy="http://purl.org/rss/1.0/modules/syndication/"\n'
             '\txmlns:slash="http://purl.org/rss/1.0/modules/slash/"\n\t>\n\n<channel>\n'
             '\t<title>City Desk &#8211; News</title>\n'
             f'\t<atom:link href="{site}/feed/" rel="self" type="application/rss+xml" />\n'
             f'\t<link>{site}</link>\n\t<description>Local news</description>\n'
             '\t<lastBuildDate>Fri, 27 Nov 2026 10:00:00 +0000</lastBuildDate>\n'
             '\t<language>en-US</language>\n\t<sy:updatePeriod>\n\thourly\t</sy:updatePeriod>\n'
             '\t<sy:updateFrequency>\n\t1\t</sy:updateFrequency>\n'
             '\t<generator>https://wordpress.org/?v=6.4.2</generator>\n'
             f'<image>\n\t<url>{site}/wp-content/uploads/2026/01/icon-32x32.png</url>\n'
             f'\t<title>City Desk &#8211; News</title>\n\t<link>{site}</link>\n'
             '\t<width>32</width>\n\t<height>32</height>\n</image> \n']
    for i in range(items):
        slug = "-".join(rnd.choice(WP_WORDS) for _ in range(5)) + f"-{i}"
        day = 1 + i % 27
        link = f"{site}/2026/11/{day:02d}/{slug}/"
        title = wp_sentence(rnd, 7) + " &#8211; " + rnd.choice(WP_WORDS)
        cats = "".join(f"\t\t<category><![CDATA[{c}]]></category>\n"
                       for c in rnd.sample(WP_CATS, rnd.randint(3, 5)))
        excerpt = wp_sentence(rnd, 16)
        parts.append(
            f"\t<item>\n\t\t<title>{title}</title>\n\t\t<link>{link}</link>\n"
            f"\t\t<comments>{link}#respond</comments>\n"
            f"\t\t<dc:creator><![CDATA[{rnd.choice(WP_AUTHORS)}]]></dc:creator>\n"
            f"\t\t<pubDate>Thu, {day:02d} Nov 2026 {i % 24:02d}:{i % 60:02d}:00 +0000</pubDate>\n"
            f"{cats}\t\t<guid isPermaLink=\"false\">{site}/?p={i + 1000}</guid>\n\n"
            f"\t\t\t\t\t<description><![CDATA[<p>{excerpt} [&#8230;]</p>\n"
            f'<p>The post <a rel="nofollow" href="{link}">{title}</a> appeared first on '
            f'<a rel="nofollow" href="{site}">City Desk</a>.</p>\n]]></description>\n'
            f"\t\t\t\t\t\t\t\t\t\t<content:encoded><![CDATA[{wp_body(rnd, i, site)}\n"
            "]]></content:encoded>\n"
            f"\t\t\t\t\t<wfw:commentRss>{link}feed/</wfw:commentRss>\n"
            f"\t\t\t<slash:comments>{rnd.randint(0, 40)}</slash:comments>\n\t\t\n"
            f'\t\t<post-id xmlns="com-wordpress:feed-additions:1">{i + 1000}</post-id>\t\t</item>\n')
    parts.append("\t</channel>\n</rss>\n")
    path.write_text("".join(parts), encoding="utf-8")


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(runs, fns):
    """Runs each of fns (name -> callable) runs times, interleaved, so that
    load moving on the machine falls on all of them alike. Returns wall
    times and CPU times (user + system of the child processes: on a loaded
    machine the wall clock also counts the wait for a core and the disk)."""
    times = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            c0 = child_cpu()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(child_cpu() - c0)
    return times, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--wordpress", action="store_true",
                    help="the WordPress feed (3.4 MB at 1,000 items) instead of the plain one")
    ap.add_argument("--no-peer", action="store_true", help="time tagdigest and xmllint only")
    ap.add_argument("--write-feed", metavar="PATH", help="write the feed to PATH and exit")
    args = ap.parse_args()
    make = make_wordpress_feed if args.wordpress else make_feed
    if args.write_feed:
        make(pathlib.Path(args.write_feed), args.items)
        return 0
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="td-bench-ingest-"))
    try:
        feed = tmp / "feed.xml"
        make(feed, args.items)
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

        fns = {"tagdigest ingest": td_ingest}
        if not args.no_peer:
            fns["python3-feedparser"] = fp
        fns["xmllint --noout"] = xl
        times, cpu = timed(args.runs, fns)
        med = {}
        for name, ts in times.items():
            med[name] = statistics.median(ts)
            cs = cpu[name]
            print(f"{name:20s} median {med[name]:.3f} s (min {min(ts):.3f}, max {max(ts):.3f}, "
                  f"{args.runs} runs): {args.items / med[name]:,.0f} items/s, "
                  f"{mb / med[name]:.1f} MB/s; CPU median {statistics.median(cs):.3f} s "
                  f"(min {min(cs):.3f}, max {max(cs):.3f})")
        td = med["tagdigest ingest"]
        kind = "WordPress feed" if args.wordpress else "feed"
        line = f"{kind}: {args.items} items, {mb:.2f} MB; tagdigest is "
        if "python3-feedparser" in med:
            ratios = sorted(f / t for f, t in zip(times["python3-feedparser"],
                                                   times["tagdigest ingest"]))
            line += (f"{med['python3-feedparser'] / td:.1f}x feedparser (per run "
                     f"{ratios[0]:.1f}-{ratios[-1]:.1f}x) and ")
        line += f"{med['xmllint --noout'] / td:.2f}x xmllint --noout (which only parses)"
        print(line)
        tdc = statistics.median(cpu["tagdigest ingest"])
        if "python3-feedparser" in med and tdc > 0:
            print(f"in CPU time (user + system): tagdigest is "
                  f"{statistics.median(cpu['python3-feedparser']) / tdc:.1f}x feedparser")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

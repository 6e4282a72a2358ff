"""End to end: the desk's "who is due" and its "This week" page, over real
HTTP against `tagdigest serve`, checked against `send --dry-run --json`
(the numbers must be the dry run's) and against counts made here from the
fixture (conftest.POSTS and SUBSCRIBERS), independently of tagdigest.

Also the preview's phone-width and colour-scheme views: the HTML part
with ?scheme= has its prefers-color-scheme conditions decided (the
browser test, test_browser.py, checks what that looks like in Chromium).
"""
import html
import json
import re

from conftest import POSTS, SUBSCRIBERS, expected_urls, slug, write_site
from test_serve import ENV, esc, html_text, status, tdrun, wait_for  # noqa: F401 (fixtures)
from test_serve import serve, site  # noqa: F401 (pytest fixtures)

NEW_ROW = 'newcomer@example.org,"New Reader",usa\n'


def dry_run(conf):
    p = tdrun(conf, "send", "--dry-run", "--json", check=True)
    return json.loads(p.stdout)


def would_send(j):
    # wip/ingest may rename the dry run's "sent"; take either
    return j.get("would_send", j.get("sent"))


def due_of(page):
    m = re.search(r'<p id="due" data-due="(\d+)">', page)
    assert m, page
    return int(m.group(1))


def counts_of(page):
    return {k: int(v) for k, v in re.findall(r'<dd id="n-([a-z-]+)" data-n="(\d+)"', page)}


def status_due_now(conf):
    return len(re.findall(r"\bdue now\b", status(conf)))


def expected_week():
    """Who gets what on a fresh site, from the fixture alone: every reader
    is due (never sent, the slot passed); those following a tag with posts
    get a digest, the others have nothing new; a tag's sections are one
    per digest that carries it, with every post of the tag (max_posts is
    10, the fixture has 6)."""
    posts_of = {}
    for _, _, tags, _ in POSTS:
        for t in tags:
            posts_of[slug(t)] = posts_of.get(slug(t), 0) + 1
    send = [a for a, _, tags in SUBSCRIBERS if expected_urls(tags)]
    skip = [a for a, _, tags in SUBSCRIBERS if not expected_urls(tags)]
    tags = {}
    for _, _, rtags in SUBSCRIBERS:
        for t in rtags:
            if posts_of.get(t):
                d, p = tags.get(t, (0, 0))
                tags[t] = (d + 1, p + posts_of[t])
        # the sums above hold only if no post shows under two of a
        # reader's tags (a digest shows a post once): true of the fixture
        urls = [u for t in rtags for _, _, pt, u in POSTS if t in {slug(x) for x in pt}]
        assert len(urls) == len(set(urls))
    return send, skip, tags


def test_due_now_is_the_send_rule(serve, site):
    """A fresh site: every reader is new and the slot has passed, so each
    is due now; the desk says so with the dry run's count (it used to say
    "Next send: Mon ..."), and `status` agrees reader by reader."""
    j = dry_run(site)
    due = would_send(j) + j["skipped"]
    assert due == len(SUBSCRIBERS) and j["not_due"] == 0
    assert status_due_now(site) == due
    s = serve()
    st, _, body = s.get("/")
    page = html_text(body)
    assert st == 200
    assert due_of(page) == due
    assert re.search(rf'Due now: <strong id="due-now">{due} readers</strong> '
                     rf'<span class="dim">\({would_send(j)} to send, {j["skipped"]} with '
                     r'nothing new\)</span>', page), page
    assert "Nobody is due now" not in page


def test_due_after_a_send_and_a_new_reader(serve, site):
    """After a send nobody is due until the next slot; a reader added to
    the file then is due at once (new, and the slot passed): the desk, the
    dry run and `status` all say one, and the others are due later this
    week, at the site's next slot."""
    tdrun(site, "send", check=True)
    s = serve()
    page = html_text(s.get("/")[2])
    assert due_of(page) == 0 and "Nobody is due now" in page
    m = re.search(r"next due: <strong>([^<]+)</strong> <span class=\"dim\">\((\d+) reader", page)
    assert m and int(m.group(2)) == len(SUBSCRIBERS), page
    # the site's next slot, as `send` prints it (Monday 08:00 Berlin)
    j = dry_run(site)
    assert would_send(j) + j["skipped"] == 0 and j["not_due"] == len(SUBSCRIBERS)
    assert m.group(1).startswith("Mon ") and " 08:00 " in m.group(1)

    with open(site.parent / "subscribers.csv", "a", encoding="utf-8") as f:
        f.write(NEW_ROW)
    j = dry_run(site)
    due = would_send(j) + j["skipped"]
    assert due == 1 and j["not_due"] == len(SUBSCRIBERS)
    assert status_due_now(site) == 1
    # the desk works it out again at most every 5 s
    page = wait_for(lambda: (lambda p: p if due_of(p) == 1 else None)(html_text(s.get("/")[2])),
                    timeout=30)
    assert page, html_text(s.get("/")[2])
    assert re.search(r'Due now: <strong id="due-now">1 reader</strong>', page), page
    week = html_text(s.get("/week")[2])
    c = counts_of(week)
    assert c["send"] == would_send(j) == 1
    assert c["not-due"] == j["not_due"] == len(SUBSCRIBERS)
    assert c["later"] == len(SUBSCRIBERS)
    assert re.search(rf'<li data-readers="{len(SUBSCRIBERS)}">Mon [^<]* 08:00 ', week), week
    assert 'data-email="newcomer@example.org" data-posts="2"' in week


def test_week_page_counts(serve, site):
    """The week page's numbers are the dry run's, and what the fixture says."""
    send, skip, tags = expected_week()
    j = dry_run(site)
    s = serve()
    st, h, body = s.get("/week")
    assert st == 200 and h["content-type"].startswith("text/html")
    page = html_text(body)
    c = counts_of(page)
    assert c["send"] == would_send(j) == len(send)
    assert c["skip"] == j["skipped"] == len(skip)
    assert c["not-due"] == j["not_due"] == 0
    assert c["readers"] == j["subscribers"] == len(SUBSCRIBERS)
    assert c["suppressed"] == j["unsubscribed"] == 0
    assert due_of(page) == len(send) + len(skip)
    # per tag: the digests that carry it and the posts they show
    rows = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(
        r'<tr class="tag" data-slug="([^"]+)" data-digests="(\d+)" data-posts="(\d+)">', page)}
    assert rows == tags, (rows, tags)
    # readers with nothing new, and the biggest digests, by address
    listed = re.findall(r'<li data-email="([^"]+)"><a', page)
    assert sorted(html.unescape(a) for a in listed) == sorted(skip)
    big = [(html.unescape(a), int(n)) for a, n in
           re.findall(r'<li data-email="([^"]+)" data-posts="(\d+)">', page)]
    want = sorted(((a, len(expected_urls(t))) for a, _, t in SUBSCRIBERS if expected_urls(t)),
                  key=lambda x: -x[1])
    assert [n for _, n in big] == [n for _, n in want]
    assert {a for a, _ in big} == {a for a, _ in want}
    # escaped like every page of the desk
    assert "<script>" not in page
    # everyone is due now: no second run as of the next slot
    assert 'id="at-slot"' not in page


def section(page, id_):
    """The markup of <section id="id_">, up to its closing tag (the week
    page's sections hold sections of their own)."""
    start = page.index(f'<section id="{id_}">')
    depth, i = 0, start
    for m in re.finditer(r"<(/?)section\b", page[start:]):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            i = start + m.end()
            break
    assert depth == 0, page
    return page[start:i]


def slot_counts(page):
    return {k: int(v) for k, v in
            re.findall(r'<dd id="slot-n-([a-z-]+)" data-n="(\d+)"', page)}


def test_week_at_the_next_slot(serve, site):
    """After a send nobody is due until Monday: the week page still says
    who gets what then, by the same dry run as of the site's next slot,
    with the posts in the store now. A post arrives after the send; from
    the fixture alone, the readers of its tags get a digest of one post at
    the slot, the others have nothing new."""
    tdrun(site, "send", check=True)
    new_tags = ["USA", "EU"]
    (site.parent / "posts" / "g.md").write_text(
        "---\ntitle: After the send\ndate: 2026-11-30T10:00:00Z\n"
        f"tags: [{', '.join(new_tags)}]\nurl: https://news.test/p/g/\n---\nBody.\n",
        encoding="utf-8")
    tdrun(site, "ingest", check=True)
    slugs = {slug(t) for t in new_tags}
    send = sorted(a for a, _, t in SUBSCRIBERS if slugs & set(t))
    skip = sorted(a for a, _, t in SUBSCRIBERS if not slugs & set(t))
    tags = {}
    for _, _, rtags in SUBSCRIBERS:
        for t in slugs & set(rtags):
            d, n = tags.get(t, (0, 0))
            tags[t] = (d + 1, n + 1)
    j = dry_run(site)
    assert would_send(j) + j["skipped"] == 0 and j["not_due"] == len(SUBSCRIBERS)

    s = serve()
    page = html_text(s.get("/week")[2])
    assert due_of(page) == 0 and "Nobody is due now" in page
    slot = section(page, "at-slot")
    # the slot is the site's next (Monday 08:00 Berlin), as the due line says
    m = re.search(r"<h2>At the next slot: ([^<]+)</h2>", slot)
    assert m and m.group(1).startswith("Mon ") and " 08:00 " in m.group(1), slot
    assert f"site slot {m.group(1)}" in page
    assert "posts that arrive before then are not counted" in slot
    c = slot_counts(slot)
    assert c["send"] == len(send) and c["skip"] == len(skip), c
    assert c["not-due"] == 0 and c["readers"] == j["subscribers"] == len(SUBSCRIBERS)
    rows = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(
        r'<tr class="tag" data-slug="([^"]+)" data-digests="(\d+)" data-posts="(\d+)">', slot)}
    assert rows == tags, (rows, tags)
    big = re.findall(r'<li data-email="([^"]+)" data-posts="(\d+)">(.*?)</li>', slot)
    assert sorted(html.unescape(a) for a, _, _ in big) == send
    # one post each, and the page says "1 post"
    assert all(n == "1" and ": 1 post, " in text for _, n, text in big), big
    listed = re.findall(r'<li data-email="([^"]+)"><a', section(slot, "slot-nothing-new"))
    assert sorted(html.unescape(a) for a in listed) == skip
    # the run at now, beside it: the dry run's own numbers
    now = section(page, "at-now")
    c = counts_of(now)
    assert (c["send"], c["skip"], c["not-due"]) == (would_send(j), j["skipped"], j["not_due"])
    assert "No digest would be sent." in section(now, "week-tags")
    assert counts_of(slot) == {} and slot_counts(now) == {}


def test_week_is_a_view_of_the_file_and_store(serve, site):
    """An unsubscribe and a file edit show on the week page as they show in
    the dry run: the page follows the store and the file."""
    s = serve()
    tdrun(site, "send", check=True)
    tdrun(site, "subscribers", "remove", "zoe@example.net", check=True)
    tdrun(site, "subscribers", "add", "cli@example.org", "--tags", "nato", check=True)
    with open(site.parent / "subscribers.csv", "a", encoding="utf-8") as f:
        f.write(NEW_ROW)
    j = dry_run(site)
    page = wait_for(lambda: (lambda p: p if counts_of(p).get("readers") == j["subscribers"]
                             else None)(html_text(s.get("/week")[2])), timeout=30)
    assert page, html_text(s.get("/week")[2])
    c = counts_of(page)
    assert (c["send"], c["skip"], c["not-due"], c["suppressed"]) == \
        (would_send(j), j["skipped"], j["not_due"], j["unsubscribed"])
    # zoe is gone; the file's newcomer and the CLI's reader are walked
    assert c["readers"] == len(SUBSCRIBERS) + 1
    assert c["send"] + c["skip"] >= 1 and c["not-due"] >= len(SUBSCRIBERS) - 1


def test_preview_scheme_and_phone_views(serve, site):
    s = serve()
    st, _, body = s.get("/preview?to=zoe@example.net")
    page = html_text(body)
    assert st == 200
    # one click each: links to the same preview with view= / scheme=
    for id_, href in (("view-phone", "/preview?to=zoe@example.net&view=phone"),
                      ("scheme-dark", "/preview?to=zoe@example.net&scheme=dark"),
                      ("scheme-light", "/preview?to=zoe@example.net&scheme=light")):
        m = re.search(rf'<a id="{id_}" href="([^"]+)"', page)
        assert m and html.unescape(m.group(1)) == href, (id_, page)
    st, _, body = s.get("/preview?to=zoe@example.net&view=phone&scheme=dark")
    page = html_text(body)
    frame = re.search(r"<iframe ([^>]*)>", page).group(1)
    assert 'class="phone"' in frame
    src = html.unescape(re.search(r'src="([^"]+)"', frame).group(1))
    assert "&scheme=dark" in src
    # the other group keeps the current choice
    m = re.search(r'<a id="scheme-light" href="([^"]+)"', page)
    assert html.unescape(m.group(1)) == "/preview?to=zoe@example.net&view=phone&scheme=light"
    assert re.search(r'<a id="view-phone" href="[^"]+" class="on"', page)

    plain = s.get("/preview/html?to=zoe@example.net")[2].decode()
    dark = s.get(src)[2].decode()
    light = s.get("/preview/html?to=zoe@example.net&scheme=light")[2].decode()
    odd = s.get("/preview/html?to=zoe@example.net&scheme=sepia")[2].decode()
    assert "@media (prefers-color-scheme: dark)" in plain
    assert odd == plain
    # the dark block always applies / never applies, all else unchanged
    assert "prefers-color-scheme: dark" not in dark and "prefers-color-scheme: dark" not in light
    assert dark == plain.replace("(prefers-color-scheme: dark)", "(min-width: 0px)")
    assert light == plain.replace("(prefers-color-scheme: dark)", "(max-width: 0px)")


def test_templates_copied_before_the_week_page(serve, site):
    """A templates folder copied before this page (no week.mustache, the
    old home with "Next send: {{next_send}}"): the desk still works, the
    old home line tells the truth, and /week says what to copy."""
    desk = site.parent / "templates" / "desk"
    (desk / "week.mustache").unlink()
    (desk / "home.mustache").write_text(
        '{{<page}}{{$main}}<main id="main"><p id="next-send">Next send: '
        "<strong>{{next_send}}</strong></p></main>{{/main}}{{/page}}\n", encoding="utf-8")
    s = serve()
    st, _, body = s.get("/")
    assert st == 200
    assert "Next send: <strong>due now (5 readers)</strong>" in html_text(body)
    st, _, body = s.get("/week")
    assert st == 500 and "week.mustache: missing" in html_text(body)
    assert s.get("/preview?to=zoe@example.net")[0] == 200

"""End to end: the command line itself (issue 13, "The command line").

`help [COMMAND]` and `help --commands`, the "did you mean" of a mistyped
command, subcommand or option, `status --json` and `subscribers list
--json` (parsed with json.loads and compared with the readers the test
put in), the columns of `status` with a long tag list (measured in
terminal columns here, with unicodedata, not with tagdigest's table),
`preview --to` a reader `send` would send nothing to (unsubscribed over
the real public POST, paused on the real preference centre, unknown),
and `feed-dump --pretty`. Each runs the real binary on write_site().
"""
import datetime as dt
import json
import re
import unicodedata
import zoneinfo

import pytest

from conftest import POSTS, SUBSCRIBERS, parse, run, slug, write_site
from test_serve import ENV, Server, prefs_token, token


def td(conf, *args, **kw):
    return run(conf, *args, env=ENV, **kw)


@pytest.fixture
def site(tmp_path):
    conf = write_site(tmp_path, "maildir")
    with open(conf, "a", encoding="utf-8") as f:
        f.write("[public]\nurl = https://news.test\n")
    td(conf, "ingest", check=True)
    return conf


def waiting_for(tags):
    """Posts of the fixture a first digest for these tag slugs holds: every
    post carrying one of them (all arrived just now)."""
    return sum(1 for _, _, ptags, _ in POSTS if {slug(t) for t in ptags} & set(tags))


# ---- help ---------------------------------------------------------------

def test_help_is_the_commands_own_help(site):
    p = td(site, "help", "--commands", check=True)
    names = p.stdout.decode().split("\n")
    assert names[-1] == "" and all(re.fullmatch(r"[a-z][a-z-]+", n) for n in names[:-1])
    names = names[:-1]
    assert {"ingest", "status", "preview", "send", "run", "feed-dump", "bounce-dump",
            "bounces", "unsuppress", "subscribers", "serve", "help"} == set(names)
    # the usage lists the same commands, in the same order
    usage = td(site, "--help", check=True).stdout.decode()
    section = usage.split("commands:\n")[1].split("\n\n")[0]
    assert [line.split()[0] for line in section.splitlines()] == names
    assert td(site, "help", check=True).stdout.decode() == usage
    for name in names:
        if name == "help":
            continue
        own = td(site, name, "--help")
        via = td(site, "help", name)
        assert own.returncode == 0 and via.returncode == 0, (name, via.stderr)
        assert via.stdout == own.stdout and own.stdout.startswith(
            f"usage: tagdigest {name}".encode()), name
    own = td(site, "subscribers", "add", "--help", check=True).stdout
    assert td(site, "help", "subscribers", "add", check=True).stdout == own
    assert own.startswith(b"usage: tagdigest subscribers add EMAIL")
    assert td(site, "help", "help", check=True).stdout.startswith(b"usage: tagdigest help")


def test_a_mistyped_name_gets_the_near_one(site):
    cases = [
        (("sned",), "tagdigest: unknown command 'sned'; did you mean `send`?"),
        (("stauts",), "did you mean `status`?"),
        (("subscriber", "list"), "did you mean `subscribers`?"),
        (("help", "previwe"), "did you mean `preview`?"),
        (("subscribers", "lst"), "did you mean `subscribers list`?"),
        (("status", "--jsno"), "unknown argument: --jsno; did you mean --json?"),
        (("feed-dump", "--prety", "x.xml"), "did you mean --pretty?"),
    ]
    for args, want in cases:
        p = td(site, *args)
        err = p.stderr.decode()
        assert p.returncode == 64 and p.stdout == b"", (args, err)
        assert want in err, (args, err)
        # a short answer, not the whole usage
        assert len(err.splitlines()) == 2 and "usage:" not in err, err
    p = td(site, "xyzzy")
    err = p.stderr.decode()
    assert p.returncode == 64 and "did you mean" not in err, err
    assert err.splitlines() == ["tagdigest: unknown command 'xyzzy'",
                                "(see `tagdigest --help`)"]


def test_usage_errors_end_with_the_same_hint(site):
    """Every usage error, top level or a command's, ends with one line in
    one wording pointing at the help of what was mistyped; `help send
    extra` is a mistake in the help asked for, not send's."""
    cases = [
        (("xyzzy",), "tagdigest: unknown command 'xyzzy'", "tagdigest"),
        (("--bogus",), None, "tagdigest"),
        (("help", "send", "extra"), "tagdigest: help: `send` has no subcommands: extra",
         "tagdigest help"),
        (("help", "subscribers", "add", "extra"), "tagdigest: help: unexpected argument: extra",
         "tagdigest help"),
        (("send", "extra"), "tagdigest: send: unexpected argument: extra", "tagdigest send"),
        (("status", "--jsno"), None, "tagdigest status"),
        (("subscribers", "lst"), None, "tagdigest subscribers"),
        (("subscribers", "add", "--tgs", "x"), None, "tagdigest subscribers add"),
    ]
    for args, first, helps in cases:
        p = td(site, *args)
        lines = p.stderr.decode().splitlines()
        assert p.returncode == 64 and p.stdout == b"", (args, lines)
        assert len(lines) == 2 and lines[1] == f"(see `{helps} --help`)", (args, lines)
        if first:
            assert lines[0] == first, (args, lines)
        # the hint's command line is one that works
        shown = td(site, *helps.split()[1:], "--help")
        assert shown.returncode == 0 and shown.stdout.startswith(b"usage: "), (helps, shown)


# ---- status --json and subscribers list --json --------------------------

LONG_TAGS = ["nato", "usa", "north-korea", "iran", "sergey-lavrov", "eu", "weather",
             "日本語のタグ", "東京"]


def test_status_json_and_list_json_hold_the_readers(site):
    td(site, "subscribers", "add", "long@example.org", "--tags", ",".join(LONG_TAGS),
       "--name", "Long List", check=True)
    td(site, "subscribers", "add", "gone@example.org", "--tags", "usa", check=True)
    td(site, "subscribers", "remove", "gone@example.org", check=True)

    p = td(site, "status", "--json", check=True)
    doc = json.loads(p.stdout)
    assert doc["site"]["timezone"] == "Europe/Berlin"
    assert doc["site"]["schedule"] == "weekly Mon 08:00 Europe/Berlin"
    now = dt.datetime.now(dt.timezone.utc)
    nxt = dt.datetime.strptime(doc["site"]["next_slot"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc)
    berlin = nxt.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert (berlin.weekday(), berlin.hour, berlin.minute) == (0, 8, 0)
    assert dt.timedelta(0) < nxt - now <= dt.timedelta(days=7)
    assert doc["store"]["posts"] == len(POSTS)
    assert [s["name"] for s in doc["sources"]] == ["posts"]
    assert doc["sources"][0]["consecutive_failures"] == 0
    assert doc["counts"]["active"] == 1 and doc["counts"]["unsubscribed"] == 1

    # the store's readers in the order they were added, every tag
    store = {r["email"]: r for r in doc["readers"]}
    assert [r["email"] for r in doc["readers"]] == ["long@example.org", "gone@example.org"]
    long = store["long@example.org"]
    assert long["status"] == "active" and long["tags"] == LONG_TAGS
    assert long["name"] == "Long List" and long["due_now"] is True
    assert long["posts_waiting"] == waiting_for(LONG_TAGS) == len(POSTS)
    assert long["last_digest"] is None and long["bounces"]["score"] == 0
    gone = store["gone@example.org"]
    assert gone["status"] == "unsubscribed" and gone["note"] == "unsubscribed"
    assert gone["next_due"] is None and gone["due_now"] is False
    # the file's rows the next run adds
    assert [r["email"] for r in doc["unsynced"]] == [e for e, _, _ in SUBSCRIBERS]
    for (email, name, tags), r in zip(SUBSCRIBERS, doc["unsynced"]):
        assert r["status"] == "new" and r["name"] == name and r["tags"] == tags
        assert r["posts_waiting"] == waiting_for(tags), email
        assert r["schedule"]["timezone"] == "Europe/Berlin"
    assert doc["subscriber_file_error"] is None
    assert [(s["email"], s["scope"], s["reason"]) for s in doc["suppressions"]] == [
        ("gone@example.org", "all", "unsubscribed")]
    assert doc["bounces"]["events"] == []

    # list --json: one document, an array of the store's readers
    p = td(site, "subscribers", "list", "--json", check=True)
    readers = json.loads(p.stdout)
    assert [(r["email"], r["status"], r["tags"]) for r in readers] == [
        ("long@example.org", "active", LONG_TAGS), ("gone@example.org", "unsubscribed",
                                                     ["usa"])]
    assert json.loads(td(site, "subscribers", "list", "--json", "--tag", "iran",
                         check=True).stdout) == [readers[0]]
    assert json.loads(td(site, "subscribers", "list", "--json", "--tag", "none",
                         check=True).stdout) == []


# ---- the status table ---------------------------------------------------

def width(c):
    """The terminal columns of one character (East Asian Wide and
    Fullwidth: two; combining marks: none)."""
    return 2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1


def by_column(line):
    """{column: character starting there} of a line on a terminal."""
    cells, col = {}, 0
    for c in line:
        cells[col] = c
        col += width(c)
    return cells


def cols(line, a, b=None):
    """The text of line from terminal column a up to b (the end: None)."""
    return "".join(c for col, c in by_column(line).items() if col >= a and (b is None or col < b))


def starts_column(line, col):
    """A field starts at col: a blank just before it, a non-blank there."""
    cells = by_column(line)
    return cells.get(col, " ") != " " and cells.get(col - 1) == " "


def test_status_columns_stay_in_line_with_a_long_tag_list(site):
    td(site, "subscribers", "add", "long@example.org", "--tags", ",".join(LONG_TAGS),
       check=True)
    td(site, "subscribers", "add", "short@example.org", "--tags", "usa", check=True)
    td(site, "subscribers", "add", "wide@example.org", "--tags",
       "日本語のとても長いタグの名前です,usa", check=True)
    out = td(site, "status", check=True).stdout.decode()
    lines = out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("EMAIL"))
    labels = ["EMAIL", "STATUS", "TAGS", "SCHEDULE", "LAST DIGEST", "NEXT DUE",
              "(SITE TIME)", "WAITING"]
    want = [header.index(label) for label in labels]     # the header is ASCII
    assert "WATERMARK" not in header
    rows = {}
    for line in lines:
        m = re.match(r"  (\S+@\S+) ", line)
        if m and not line.startswith("  " + m.group(1) + " " * 3 + "all"):
            rows.setdefault(m.group(1), line)
    assert {"long@example.org", "short@example.org", "wide@example.org"} <= set(rows)
    for email in ("long@example.org", "short@example.org", "wide@example.org"):
        line = rows[email]
        for col, label in zip(want, labels):
            assert starts_column(line, col), (label, col, line)
    # the tags that fit, whole, and how many more
    long_tags = cols(rows["long@example.org"], want[2], want[3]).strip()
    m = re.fullmatch(r"(\S+) \+(\d+)", long_tags)
    assert m, long_tags
    shown = m.group(1).split(";")
    assert shown == LONG_TAGS[:len(shown)] and int(m.group(2)) == len(LONG_TAGS) - len(shown)
    assert "usa" in rows["short@example.org"]
    # posts waiting and the next due time, not a sequence number
    doc = json.loads(td(site, "status", "--json", check=True).stdout)
    waiting = {r["email"]: r["posts_waiting"] for r in doc["readers"]}
    for email, line in rows.items():
        if email in waiting:
            assert int(cols(line, want[7]).split()[0]) == waiting[email], line
            assert cols(line, want[5], want[6]).strip() == "due now", line
            # the reader keeps the site's zone: no second time
            assert cols(line, want[6], want[7]).strip() == "-", line


# ---- preview of a reader send would send nothing to ---------------------

def test_preview_says_why_a_reader_gets_nothing(site):
    td(site, "subscribers", "import", str(site.parent / "subscribers.csv"), check=True)
    s = Server(site, "--public")
    try:
        st, _, _ = s.post("/unsubscribe/" + token("zoe@example.net"),
                          {"List-Unsubscribe": "One-Click"})
        assert st == 200
        fields = {"action": "save", "tags": "north-korea", "frequency": "weekly",
                  "day": "monday", "time": "08:00", "timezone": "Europe/Berlin",
                  "pause_weeks": "2"}
        st, _, body = s.post("/preferences/" + prefs_token("li@example.com"), fields)
        assert st == 200, body.decode()
    finally:
        assert s.stop() == 0, s.output()

    p = td(site, "preview", "--to", "zoe@example.net")
    err = p.stderr.decode()
    assert p.returncode == 65 and p.stdout == b"", err
    assert re.search(r"zoe@example\.net is unsubscribed since \d{4}-\d\d-\d\d \d\d:\d\d "
                     r"CES?T \(.+\): `send` would send them nothing", err), err
    assert "only the reader can subscribe again" in err
    assert "no new posts" not in err

    p = td(site, "preview", "--to", "li@example.com")
    err = p.stderr.decode()
    assert p.returncode == 65 and p.stdout == b"", err
    until = (dt.date.today() + dt.timedelta(weeks=2))
    assert re.search(r"li@example\.com paused their digests until (\d{4}-\d\d-\d\d)", err), err
    got = dt.date.fromisoformat(re.search(r"until (\d{4}-\d\d-\d\d)", err).group(1))
    assert abs((got - until).days) <= 1, (got, until)

    p = td(site, "preview", "--to", "ghost@example.org")
    assert p.returncode == 67 and p.stdout == b""
    assert "ghost@example.org is neither in the store nor in" in p.stderr.decode()

    # an active reader with nothing new: the empty digest, as before
    p = td(site, "preview", "--to", "nobody-news@example.org")
    assert p.returncode == 0, p.stderr.decode()
    assert parse(p.stdout)["To"].addresses[0].addr_spec == "nobody-news@example.org"
    assert "has no new posts" in p.stderr.decode()
    # and an active one with news
    p = td(site, "preview", "--to", "juergen@example.org")
    assert p.returncode == 0 and p.stderr == b"", p.stderr.decode()


# ---- feed-dump --pretty -------------------------------------------------

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Blog, "quoted" [x]</title>
<link>https://blog.test/</link><description>d</description>
<item><title>One: {a}, [b]</title><link>https://blog.test/1</link>
<guid>https://blog.test/1</guid><category>USA</category><category>NATO</category>
<pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate><description>x &amp; y</description></item>
<item><title>Two</title><link>https://blog.test/2</link></item>
</channel></rss>
"""


def test_feed_dump_pretty(tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS, encoding="utf-8")
    conf = tmp_path / "none.conf"           # feed-dump works without a config
    plain = run(conf, "feed-dump", str(feed), check=True).stdout.decode()
    assert plain.count("\n") == 1 and plain.endswith("}\n")   # one line for scripts
    pretty = run(conf, "feed-dump", "--pretty", str(feed), check=True).stdout.decode()
    also = run(conf, "feed-dump", str(feed), "--pretty", check=True).stdout.decode()
    assert pretty == also
    assert json.loads(pretty) == json.loads(plain)
    assert json.loads(plain)["entries"][0]["title"] == "One: {a}, [b]"
    lines = pretty.splitlines()
    assert lines[0] == "{" and lines[-1] == "}" and len(lines) > 20
    for line in lines[1:-1]:
        indent = len(line) - len(line.lstrip(" "))
        assert indent >= 2 and indent % 2 == 0, line
    assert '  "version": "rss20",' in lines


def test_counts_of_one_are_singular_and_others_plural(tmp_path):
    """One post, one bad row, one imported row: "1 post", "1 bad row",
    "1 row", never "1 posts"; and "0 readers", "5 good rows"."""
    conf = write_site(tmp_path, "maildir", extra_rows="not an address,Bad Row,nato\n")
    # only the North Korea post: li@example.com follows that tag
    for name, _, _, _ in POSTS:
        if name != "c.md":
            (tmp_path / "posts" / name).unlink()
    td(conf, "ingest", check=True)
    status = td(conf, "status", check=True).stdout.decode()
    assert re.search(r"^Store: .*: 1 post, newest seq", status, re.M), status
    dry = td(conf, "send", "--dry-run", check=True).stderr.decode()
    good = len(SUBSCRIBERS)
    assert f"1 bad row skipped (see above); {good} good rows kept" in dry, dry
    assert "would send to li@example.com: 1 post, " in dry, dry
    rows = tmp_path / "one.csv"
    rows.write_text("email,name,tags\nnew@example.org,New Reader,nato\n", encoding="utf-8")
    imported = td(conf, "subscribers", "import", str(rows), check=True).stdout.decode()
    assert re.search(r": 1 row: 1 added, .*, 0 readers kept \(", imported), imported
    for said in (status, dry, imported):
        assert not re.search(r"\b1 (posts|bad rows|rows|readers)\b", said), said
        assert not re.search(r"\b(0|[2-9]) (post|reader|bad row|good row)\b[^s]", said), said

"""The text part as a reader's terminal shows it.

A delivered digest is parsed with the standard library (policy.default, no
defects), its text/plain part decoded (transfer encoding and charset) and
read line by line, counting the columns a terminal gives each character.
The site has more than nine posts, so link numbers have one and two
digits, and posts with very long titles and very long URLs.
"""
import re
import shutil
import unicodedata

from conftest import ROOT, parse, run

WIDTH = 72
LONG_TITLE = ("Foreign ministers agree on a long list of things, among them the "
              "schedule of the next summit, the wording of the joint statement, "
              "and who pays for the coffee")
LONG_URL = ("https://news.test/p/" + "a-very-long-slug-that-goes-on-" * 4 +
            "and-ends-here/?utm_source=digest&utm_medium=email")
# (guid, title, url); the first is the newest, so it is [1]
POSTS = [("n01", LONG_TITLE + " (first)", LONG_URL + "&n=1")]
POSTS += [(f"n{i:02d}", f"Short news number {i}", f"https://news.test/p/n{i:02d}/")
          for i in range(2, 10)]
POSTS += [("n10", "Brüssel: " + LONG_TITLE + " (tenth)", LONG_URL + "&n=10"),
          ("n11", "Ten " + "words " * 20 + "and a URL", f"https://news.test/p/n11/"),
          ("n12", "Last one", LONG_URL + "&n=12")]


def site(root):
    (root / "posts").mkdir(parents=True)
    for i, (guid, title, url) in enumerate(POSTS):
        (root / "posts" / f"{guid}.md").write_text(
            f'---\ntitle: "{title}"\ndate: 2026-11-20T{23 - i:02d}:00:00Z\n'
            f"tags: [World]\nurl: {url}\nauthor: Desk of {guid}\n---\n"
            f"First paragraph of {guid}, long enough to wrap in the text part: "
            + "words " * 30 + "end.\n", encoding="utf-8")
    (root / "subscribers.csv").write_text("email,name,tags\nr@example.org,Reader,world\n",
                                          encoding="utf-8")
    shutil.copytree(ROOT / "templates", root / "templates")
    conf = root / "tagdigest.conf"
    conf.write_text(
        "[site]\nname = Test Weekly\nurl = https://news.test\nfrom = digest@news.test\n"
        "[store]\npath = var/store.db\n[schedule]\ntimezone = UTC\n"
        "[digest]\nmax_posts = 20\n[subscribers]\npath = subscribers.csv\n"
        "[templates]\ndir = templates\n[transport]\n"
        f"type = maildir\npath = {root / 'outbox'}\n"
        "[source.posts]\ntype = posts\npath = posts\n", encoding="utf-8")
    return conf


def columns(line):
    """Columns a terminal gives the line: wide East Asian characters take
    two, combining marks none."""
    n = 0
    for ch in line:
        if unicodedata.combining(ch):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def terminal_lines(msg):
    part = msg.get_body(("plain",))
    assert part.get_content_type() == "text/plain"
    # format=flowed would let the client rewrap; the lines are meant as sent
    assert part.get_param("format") is None, part["Content-Type"]
    text = part.get_content()          # transfer encoding and charset decoded
    text = text.replace("\r\n", "\n")   # the mail's line ends, as the terminal breaks them
    assert "\r" not in text, "a bare CR would move the terminal's cursor"
    return text.split("\n")


FOOTNOTE = re.compile(r" *\[(\d+)\] (\S+)")
TITLE = re.compile(r"( *)\[(\d+)\] (\S.*)")


def test_text_part_reads_well_in_a_terminal(tmp_path):
    conf = site(tmp_path)
    run(conf, "run", check=True)
    files = list((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == 1
    lines = terminal_lines(parse(files[0].read_bytes()))

    # no line over 72 columns, except one that is a single unbreakable URL
    # (alone, or as a footnote "[n] URL")
    for line in lines:
        if columns(line) > WIDTH:
            m = FOOTNOTE.fullmatch(line)
            assert (m and len(m.group(2)) > WIDTH - 6) or \
                re.fullmatch(r" *https?://\S+", line), f"line over {WIDTH}: {line!r}"

    links = lines.index("Links:")
    by_title = {title: url for _, title, url in POSTS}
    seen, wrapped = {}, set()
    i = 0
    while i < links:
        m = TITLE.fullmatch(lines[i])
        if not m:
            i += 1
            continue
        number, col = int(m.group(2)), len(m.group(1)) + len(f"[{m.group(2)}] ")
        got, i = m.group(3), i + 1
        # a wrapped title continues under the title's first character
        while got in (t[:len(got)] for t in by_title) and got not in by_title:
            cont = lines[i]
            assert cont[:col] == " " * col and cont[col:col + 1] not in ("", " "), \
                f"[{number}]: continuation not under column {col}: {cont!r}"
            got, i = got + " " + cont[col:], i + 1
            wrapped.add(number)
        assert got in by_title, f"[{number}]: title read as {got!r}"
        # the meta line and the excerpt line up with the title text
        guid = [g for g, t, _ in POSTS if t == got][0]
        assert lines[i] == " " * col + f"20 November 2026, Desk of {guid}", lines[i]
        i += 1
        assert lines[i].startswith(" " * col + f"First paragraph of {guid},"), lines[i]
        while lines[i]:
            assert lines[i][:col] == " " * col and lines[i][col] != " ", lines[i]
            i += 1
        seen[number] = by_title[got]
    assert sorted(seen) == list(range(1, len(POSTS) + 1))
    # the long titles did wrap, under one- and two-digit numbers
    assert {1, 10, 11} <= wrapped, wrapped

    # each footnote is "[n] URL" on one line, the URL the post's own
    notes = {}
    for line in lines[links + 1:lines.index("", links)]:
        m = FOOTNOTE.fullmatch(line)
        assert m, f"footnote not '[n] URL' on one line: {line!r}"
        notes[int(m.group(1))] = m.group(2)
    assert notes == seen
    # footnote numbers line up too
    assert len({line.index("]") for line in lines[links + 1:links + 1 + len(notes)]}) == 1

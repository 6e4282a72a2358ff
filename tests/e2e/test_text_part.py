"""The text part as a reader's terminal shows it.

A delivered digest is parsed with the standard library (policy.default, no
defects), its text/plain part decoded (transfer encoding and charset) and
read line by line, counting the columns a terminal gives each character.
The site has more than nine posts, so link numbers have one and two
digits, and posts with very long titles and very long URLs; a second tag
with a Japanese name holds posts with long Japanese and Chinese titles and
excerpts, which have no spaces to wrap at and take two columns a
character.
"""
import re
import shutil

from conftest import ROOT, columns, overwide_lines, parse, run

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
# in the tag JA_TAG: 7 characters, 14 columns
JA_TAG = "日本語ニュース"
JA_POSTS = [
    ("j1", "東京で日米韓の外相が会談し、北朝鮮の核・ミサイル開発への対応や"
           "「インド太平洋」地域の安全保障、NATOとの連携について協議した。",
     "https://news.test/p/j1/"),
    ("j2", "中国外交部发言人在例行记者会上表示，中方愿同各方一道，"
           "推动政治解决朝鲜半岛问题，维护地区和平稳定与繁荣发展。",
     "https://news.test/p/j2/"),
]
JA_BODY = ("外相会談では、北朝鮮による相次ぐ弾道ミサイルの発射について深刻な懸念が"
           "表明され、三か国が緊密に連携して対応することで一致した。また、"
           "経済安全保障やサプライチェーンの強靱化についても意見が交わされた。")
# what may not start a line (UAX #14: closing punctuation, small kana, "ー")
NO_LINE_START = "、。，．」』）】〕！？ーぁぃぅぇぉっゃゅょァィゥェォッャュョ"


def site(root):
    (root / "posts").mkdir(parents=True)
    for i, (guid, title, url) in enumerate(POSTS + JA_POSTS):
        ja = guid.startswith("j")
        body = JA_BODY if ja else (f"First paragraph of {guid}, long enough to wrap in the "
                                   "text part: " + "words " * 30 + "end.")
        (root / "posts" / f"{guid}.md").write_text(
            f'---\ntitle: "{title}"\ndate: 2026-11-20T{23 - i:02d}:00:00Z\n'
            f"tags: [{JA_TAG if ja else 'World'}]\nurl: {url}\n"
            f"author: Desk of {guid}\n---\n{body}\n", encoding="utf-8")
    (root / "subscribers.csv").write_text(
        f"email,name,tags\nr@example.org,Reader,world;{JA_TAG}\n", encoding="utf-8")
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
    assert overwide_lines("\n".join(lines), WIDTH) == []
    # ... and there are such lines: the rule is exercised
    assert any(columns(line) > WIDTH for line in lines)

    # each section's name is underlined as wide as it looks
    names = {"World", JA_TAG}
    for i, line in enumerate(lines):
        if line in names:
            assert re.fullmatch("-+", lines[i + 1]), lines[i + 1]
            assert len(lines[i + 1]) == columns(line), (line, lines[i + 1])
            names.remove(line)
    assert not names, f"sections not found: {names}"

    links = lines.index("Links:")
    by_title = {title: url for _, title, url in POSTS + JA_POSTS}

    def starts_a_title(text):
        return any(t.startswith(text) for t in by_title)

    seen, wrapped = {}, {}     # number: url; number: guid
    i = 0
    while i < links:
        m = TITLE.fullmatch(lines[i])
        if not m:
            i += 1
            continue
        number, col = int(m.group(2)), len(m.group(1)) + len(f"[{m.group(2)}] ")
        got, i = m.group(3), i + 1
        # a wrapped title continues under the title's first character; a
        # break at a space drops the space, a break in CJK text nothing
        while starts_a_title(got) and got not in by_title:
            cont = lines[i]
            assert cont[:col] == " " * col and cont[col:col + 1] not in ("", " "), \
                f"[{number}]: continuation not under column {col}: {cont!r}"
            assert cont[col] not in NO_LINE_START, f"[{number}]: line starts with {cont[col]}"
            joined = [g for g in (got + " " + cont[col:], got + cont[col:]) if starts_a_title(g)]
            assert joined, f"[{number}]: {cont!r} does not continue {got!r}"
            got, i = joined[0], i + 1
            wrapped[number] = None
        assert got in by_title, f"[{number}]: title read as {got!r}"
        # the meta line and the excerpt line up with the title text
        guid = [g for g, t, _ in POSTS + JA_POSTS if t == got][0]
        if number in wrapped:
            wrapped[number] = guid
        assert lines[i] == " " * col + f"20 November 2026, Desk of {guid}", lines[i]
        i += 1
        first = JA_BODY[:10] if guid.startswith("j") else f"First paragraph of {guid},"
        assert lines[i].startswith(" " * col + first), lines[i]
        excerpt = []
        while lines[i]:
            assert lines[i][:col] == " " * col and lines[i][col] != " ", lines[i]
            assert lines[i][col] not in NO_LINE_START, lines[i]
            excerpt.append(lines[i][col:])
            i += 1
        if guid.startswith("j"):
            # the Japanese excerpt wrapped, nothing lost or added at the breaks
            assert len(excerpt) > 1 and "".join(excerpt) == JA_BODY, excerpt
        seen[number] = by_title[got]
    assert sorted(seen) == list(range(1, len(POSTS + JA_POSTS) + 1))
    # the long titles did wrap, the Japanese and Chinese ones too, under
    # one- and two-digit numbers
    assert {"n01", "n10", "n11", "j1", "j2"} <= set(wrapped.values()), wrapped
    assert min(wrapped) < 10 <= max(wrapped), wrapped

    # each footnote is "[n] URL" on one line, the URL the post's own
    notes = {}
    for line in lines[links + 1:lines.index("", links)]:
        m = FOOTNOTE.fullmatch(line)
        assert m, f"footnote not '[n] URL' on one line: {line!r}"
        notes[int(m.group(1))] = m.group(2)
    assert notes == seen
    # footnote numbers line up too
    assert len({line.index("]") for line in lines[links + 1:links + 1 + len(notes)]}) == 1

"""Messages that mailbox providers accept: hostile and international
content through the whole pipeline, every message read back with the
standard library's strict parser."""
import pathlib
import re
import shutil

from conftest import ROOT, columns, overwide_lines, parse, run

TAGS = {
    "emoji": "Emoji 🦊 News",
    "cjk": "日本語ニュース",
    "rtl": "חדשות בעברית",
    "quotes": 'He said "<hi>" & left',
}
TITLES = [
    ("e1", "Fox 🦊 sighted near the 🏛️ parliament", "Emoji 🦊 News"),
    ("c1", "東京で会談、北朝鮮について協議", "日本語ニュース"),
    ("r1", "שיחות בבריסל על אוקראינה", "חדשות בעברית"),
    ("q1", 'A "quoted" <title> with & ampersands', 'He said "<hi>" & left'),
    ("l1", "Long " + "very " * 60 + "title", "Emoji 🦊 News"),
    ("i1", "Innocent title Bcc: victim@example.com", "Emoji 🦊 News"),
    # 66 characters, 132 columns: wraps in a terminal though 66 < 72
    ("c2", "東京で日米韓の外相が会談し、北朝鮮の核・ミサイル開発への対応や"
           "「インド太平洋」地域の安全保障について協議した。", "日本語ニュース"),
    # its URL is longer than a line (LONG_PATH): the footnote passes 72
    ("u1", "Short title, long URL", "日本語ニュース"),
]
LONG_PATH = {"u1": "a-very-long-slug-" * 5 + "end/"}
READERS = [
    ("fox@example.org", "🦊 Fuchs, der Schlaue", ["emoji", "cjk"]),
    ("tanaka@example.jp", "田中 花子", ["cjk"]),
    ("cohen@example.co.il", "דנה כהן", ["rtl", "quotes"]),
    ("plain@example.org", 'Jo "The Quote" <Smith>', ["quotes", "emoji"]),
]


def site(root):
    root = pathlib.Path(root)
    (root / "posts").mkdir(parents=True)
    for guid, title, tag in TITLES:
        esc = title.replace("\\", "\\\\").replace('"', '\\"')
        tag_esc = tag.replace('"', '\\"')
        (root / "posts" / f"{guid}.md").write_text(
            f'---\ntitle: "{esc}"\ndate: 2026-11-20T10:00:00Z\ntags: ["{tag_esc}"]\n'
            f"url: https://news.test/p/{guid}/{LONG_PATH.get(guid, '')}\n---\nBody of {guid}: "
            "“smart quotes”, <b>raw html</b> & ünïcödé.\n", encoding="utf-8")
    # a title that tries to smuggle a header (a raw CR in the line): refused
    (root / "posts" / "x1.md").write_text(
        '---\ntitle: Hello\rBcc: victim@example.com\ndate: 2026-11-20\n'
        "tags: [Emoji 🦊 News]\nurl: https://news.test/p/x1/\n---\nBody\n", encoding="utf-8")
    rows = ["email,name,tags"]
    for addr, name, tags in READERS:
        q = lambda v: '"' + v.replace('"', '""') + '"'   # RFC 4180 quoting
        rows.append(f'{addr},{q(name)},{q(";".join(TAGS[t] for t in tags))}')
    (root / "subscribers.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    shutil.copytree(ROOT / "templates", root / "templates")
    conf = root / "tagdigest.conf"
    conf.write_text(
        "[site]\nname = Welt 🌍 Weekly — “Digest”\nurl = https://news.test\n"
        "from = digest@news.test\n[store]\npath = var/store.db\n[schedule]\n"
        "timezone = Asia/Kolkata\n[digest]\nmax_posts = 10\n[subscribers]\n"
        "path = subscribers.csv\n[templates]\ndir = templates\n[transport]\n"
        f"type = maildir\npath = {root / 'outbox'}\n[source.posts]\ntype = posts\n"
        "path = posts\n", encoding="utf-8")
    return conf


def test_international_and_hostile_content(tmp_path):
    conf = site(tmp_path)
    p = run(conf, "run", check=True)
    err = p.stderr.decode()
    assert "x1.md" in err                       # the smuggling post was refused
    files = list((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == len(READERS)
    for f in files:
        raw = f.read_bytes()
        msg = parse(raw)                            # no defects anywhere
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert all(b < 0x80 for b in head), "raw 8-bit in the header block"
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        assert b"\nBcc:" not in raw and b"\r\nBcc:" not in raw
        addr = msg["To"].addresses[0].addr_spec
        reader = [r for r in READERS if r[0] == addr][0]
        # Python 3.11 keeps the blank between adjacent encoded words in a
        # display name (CPython gh-128110), so compare with blanks folded.
        shown = msg["To"].addresses[0].display_name
        assert shown.replace(" ", "") == reader[1].replace(" ", ""), (shown, reader[1])
        assert msg["From"].addresses[0].display_name.replace(" ", "") == \
            "Welt🌍Weekly—“Digest”"
        subject = msg["Subject"]
        assert subject.startswith("Welt 🌍 Weekly — “Digest”: "), subject
        for t in reader[2]:
            assert TAGS[t] in subject or TAGS[t] in msg.get_body(("plain",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        for guid, title, tag in TITLES:
            if tag in [TAGS[t] for t in reader[2]]:
                assert f"https://news.test/p/{guid}/" in text
                if guid == "q1":
                    assert 'A &quot;quoted&quot; &lt;title&gt; with &amp; ampersands' in html \
                        or "A &#34;quoted&#34; &lt;title&gt; with &amp; ampersands" in html
                    assert '<title> with' not in html
                elif guid == "c2":
                    # wrapped without spaces, continued under the title
                    assert title in re.sub(r"\r?\n +", "", text)
                elif guid != "l1":
                    assert title in text
        # text lines stay within 72 columns as a terminal counts them
        # (CJK and emoji take two), except a URL on a line of its own
        assert overwide_lines(text.replace("\r\n", "\n")) == []
        if "cjk" in reader[2]:
            assert any(columns(line) > 72 for line in text.split("\n"))
        # the Date is the send time in UTC, valid whatever the schedule zone
        assert msg["Date"].datetime.utcoffset().total_seconds() == 0

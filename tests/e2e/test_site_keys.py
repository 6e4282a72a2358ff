"""End to end: the [site] keys reply_to, postal_address and language in
the mail the site sends: the digests `send` writes, the confirmation and
the welcome digest of `serve --public` (over real HTTP, through
Postfix's smtp-sink) and the desk's test send.

Every message is parsed with Python's email package (policy.default,
defects checked by conftest.parse). The French dates expected here are
written from this file's own month names and Python's zoneinfo, not from
tagdigest's output.
"""
import datetime
import os
import re
import zoneinfo

from conftest import parse, run, write_site
from test_public import BASE, confirm_path, mails_to, sign_up
from test_serve import ENV, Server, wait_for

REPLY_TO = "Letters.Desk@news.test"
POSTAL = "Rue <Haute> & Fils, 75001 Paris, France"
POSTAL_HTML = "Rue &lt;Haute&gt; &amp; Fils, 75001 Paris, France"
FRENCH_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet",
                 "août", "septembre", "octobre", "novembre", "décembre"]
ZONE = zoneinfo.ZoneInfo("Europe/Berlin")   # write_site's [schedule] timezone


def with_site_keys(conf, keys):
    """Adds keys (lines "key = value") to the [site] section of conf."""
    text = conf.read_text(encoding="utf-8")
    conf.write_text(text.replace("[site]\n", "[site]\n" + keys, 1), encoding="utf-8")
    return conf


KEYS = f"reply_to = {REPLY_TO}\npostal_address = {POSTAL}\nlanguage = fr\n"


def maildir(root):
    new = root / "outbox" / "new"
    return [parse((new / n).read_bytes()) for n in sorted(os.listdir(new))]


def parts(msg):
    """The text and HTML parts, with LF line ends."""
    return tuple(msg.get_body((kind,)).get_content().replace("\r\n", "\n")
                 for kind in ("plain", "html"))


def french(day):
    return f"{day.day} {FRENCH_MONTHS[day.month - 1]} {day.year}"


def check_keys(msg):
    """Reply-To, the footer's address in both parts (escaped in HTML)."""
    reply = msg["Reply-To"]
    assert reply is not None and not reply.defects, msg
    assert [a.addr_spec for a in reply.addresses] == [REPLY_TO]
    # From stays the sender's
    assert msg["From"].addresses[0].addr_spec == "digest@news.test"
    text, html = parts(msg)
    assert text.rstrip("\n").endswith("\n" + POSTAL), text[-300:]
    assert POSTAL_HTML in html and POSTAL not in html
    return text, html


def test_digests_carry_the_keys(tmp_path):
    conf = with_site_keys(write_site(tmp_path, "maildir"), KEYS)
    run(conf, "run", check=True, env=ENV)
    msgs = maildir(tmp_path)
    assert len(msgs) == 4     # the reader of "weather" has nothing new
    today = datetime.datetime.now(ZONE).date()
    for msg in msgs:
        text, html = check_keys(msg)
        assert '<html lang="fr">' in html
        # the period, in French: a first digest of posts dated before its
        # week spans the posts' own dates (digest.h td_digest_period),
        # else it ends today, on the schedule's calendar
        period = re.search(r"\n(\d{1,2} \w+ \d{4}) to (\d{1,2} \w+ \d{4})\n", text)
        assert period, text[:200]
        shown = {f"{int(d)} novembre 2026" for d in
                 re.findall(r"\n +(2\d) novembre 2026, Test Desk\n", text)}
        assert period.group(2) in shown | {french(today)}, (period.groups(), shown)
        if period.group(2) != french(today):
            assert period.group(1) in shown, (period.groups(), shown)
        # each post's date, in both parts (write_site: 2026-11-2N 10:00Z)
        dates = re.findall(r"\n +(2\d) novembre 2026, Test Desk\n", text)
        assert dates and set(dates) <= {f"2{i}" for i in range(6)}, text
        for d in dates:
            assert f"{d} novembre 2026" in html
        assert "November" not in text and "November" not in html


def test_without_the_keys_nothing_changes(tmp_path):
    conf = write_site(tmp_path, "maildir")
    run(conf, "run", check=True, env=ENV)
    for msg in maildir(tmp_path):
        assert "Reply-To" not in msg
        text, html = parts(msg)
        assert '<html lang="en">' in html
        # the footer ends with the unsubscribe link (its URL wrapped
        # onto a line of its own)
        assert re.search(r"\nUnsubscribe with one click:\s+https://news.test/unsubscribe/\S+\n*\Z",
                         text), text[-300:]
        assert re.search(r"\n +2\d November 2026, Test Desk\n", text), text
        assert "padding-top:8px" not in html


def test_unknown_language_is_refused(tmp_path):
    conf = with_site_keys(write_site(tmp_path, "maildir"), "language = xx\n")
    line = conf.read_text(encoding="utf-8").splitlines().index("language = xx") + 1
    p = run(conf, "send", env=ENV)
    assert p.returncode == 78, p.stderr.decode()   # EX_CONFIG
    err = p.stderr.decode()
    assert f"tagdigest.conf:{line}: site.language: 'xx'" in err, err
    assert not (tmp_path / "outbox" / "new").exists() or not maildir(tmp_path)


def test_confirmation_and_welcome(tmp_path, sink):
    conf = with_site_keys(write_site(tmp_path, "smtp", sink.url), KEYS)
    with open(conf, "a", encoding="utf-8") as f:
        f.write(f"[public]\nurl = {BASE}\nwelcome = now\n")
    run(conf, "ingest", check=True, env=ENV)
    s = Server(conf, "--public")
    try:
        assert sign_up(s, "new.reader@example.org", tags=("usa",))[0] == 200
        _, confirmation, _ = wait_for(lambda: mails_to(sink, "new.reader@example.org"))[0]
        _, html = check_keys(confirmation)
        assert '<html lang="fr">' in html
        st, _, _ = s.post(confirm_path(confirmation), b"")
        assert st == 200
        welcome = wait_for(lambda: [m for _, m, _ in mails_to(sink, "new.reader@example.org")
                                    if "List-Unsubscribe" in m])
        assert len(welcome) == 1
        text, _ = check_keys(welcome[0])
        assert "novembre 2026" in text
    finally:
        assert s.stop() == 0, s.output()


def test_desk_test_send(tmp_path, sink):
    conf = with_site_keys(write_site(tmp_path, "smtp", sink.url), KEYS)
    run(conf, "ingest", check=True, env=ENV)
    s = Server(conf)
    try:
        page = s.get("/preview?to=zoe@example.net")[2].decode()
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
        st, _, body = s.post("/test-send", {"csrf": csrf, "to": "zoe@example.net",
                                            "address": "editor@desk.example"},
                             headers={"Origin": f"http://127.0.0.1:{s.port}"})
        assert st == 200, body
        got = wait_for(lambda: sink.messages())
        assert len(got) == 1 and got[0][0] == ["editor@desk.example"]
        msg = got[0][1]
        assert msg["Subject"].startswith("[TEST] ")
        check_keys(msg)
    finally:
        assert s.stop() == 0, s.output()

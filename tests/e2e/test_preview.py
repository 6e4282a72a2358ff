"""End to end: `tagdigest preview` shows the reader `send` would write
to, as the store's roster has them: a reader added to the store only
(not in the subscriber file) can be previewed, a reader's own schedule
(set on the public preference centre over real HTTP) gives the preview
the very Message-ID the real `send` then delivers, and a reader nothing
would be sent to is refused with a reason. Messages are parsed with the
email package (policy.default, defects checked)."""
import datetime
import os
import zoneinfo

from conftest import parse, run, write_site
from test_serve import ENV, Server, prefs_token


def tdrun(conf, *args, **kw):
    return run(conf, *args, env=ENV, **kw)


def maildir_messages(root):
    """{recipient: [message]} of everything delivered into the outbox."""
    out = {}
    new = root / "outbox" / "new"
    for name in sorted(os.listdir(new)) if new.exists() else ():
        msg = parse((new / name).read_bytes())
        out.setdefault(msg["To"].addresses[0].addr_spec, []).append(msg)
    return out


def test_reader_only_in_the_store(tmp_path):
    conf = write_site(tmp_path, "maildir")
    tdrun(conf, "ingest", check=True)
    tdrun(conf, "subscribers", "add", "store.only@example.org", "--tags", "nato",
          "--name", "Store Only", check=True)
    assert b"store.only@example.org" not in (tmp_path / "subscribers.csv").read_bytes()
    p = tdrun(conf, "preview", "--to", "store.only@example.org")
    assert p.returncode == 0, p.stderr.decode()
    msg = parse(p.stdout)
    assert msg["To"].addresses[0].addr_spec == "store.only@example.org"
    assert msg["To"].addresses[0].display_name == "Store Only"
    assert "NATO" in msg["Subject"]
    # a file row the store does not have yet still previews (a fresh
    # install before its first run)
    p = tdrun(conf, "preview", "--to", "li@example.com")
    assert p.returncode == 0, p.stderr.decode()
    assert parse(p.stdout)["To"].addresses[0].addr_spec == "li@example.com"
    # a reader the store holds as unsubscribed gets no "would be sent"
    tdrun(conf, "subscribers", "remove", "store.only@example.org", check=True)
    p = tdrun(conf, "preview", "--to", "store.only@example.org")
    assert p.returncode != 0 and p.stdout == b""
    assert "store.only@example.org is unsubscribed" in p.stderr.decode()
    assert "send them nothing" in p.stderr.decode()
    p = tdrun(conf, "preview", "--to", "ghost@example.org")
    assert p.returncode != 0 and "neither in the store nor in" in p.stderr.decode()


def test_own_schedule_gives_the_sends_message_id(tmp_path):
    conf = write_site(tmp_path, "maildir")
    with open(conf, "a", encoding="utf-8") as f:
        f.write("[public]\nurl = https://news.test\n")
    tdrun(conf, "ingest", check=True)
    tdrun(conf, "subscribers", "import", str(tmp_path / "subscribers.csv"), check=True)
    # daily, two hours ago at :17 in Tokyo: a slot the site's (weekly,
    # on the hour) never is
    zone = zoneinfo.ZoneInfo("Asia/Tokyo")
    at = datetime.datetime.now(zone) - datetime.timedelta(hours=2)
    fields = {"action": "save", "tags": "nato", "frequency": "daily",
              "day": "monday", "time": f"{at.hour:02d}:17", "timezone": "Asia/Tokyo",
              "pause_weeks": "0"}
    s = Server(conf, "--public")
    try:
        st, _, body = s.post("/preferences/" + prefs_token("zoe@example.net"), fields)
        assert st == 200 and 'id="notice"' in body.decode(), body.decode()
    finally:
        assert s.stop() == 0, s.output()
    p = tdrun(conf, "preview", "--to", "zoe@example.net")
    assert p.returncode == 0, p.stderr.decode()
    preview = parse(p.stdout)
    assert preview["To"].addresses[0].addr_spec == "zoe@example.net"
    tdrun(conf, "send", check=True)
    sent = maildir_messages(tmp_path)["zoe@example.net"]
    assert len(sent) == 1
    assert preview["Message-ID"] == sent[0]["Message-ID"]
    assert preview["Subject"] == sent[0]["Subject"]
    assert preview.get_body(("plain",)).get_content() == \
        sent[0].get_body(("plain",)).get_content()

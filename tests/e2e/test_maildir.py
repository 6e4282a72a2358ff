"""End to end through the Maildir transport, and the CLI's promises."""
import os
import re
import time

from conftest import SUBSCRIBERS, expected_urls, parse, run, secret_path, write_site
from digestcheck import check_digest


def test_digests_into_maildir(tmp_path):
    conf = write_site(tmp_path, "maildir")
    run(conf, "ingest", check=True)
    previews = {addr: (run(conf, "preview", "--to", addr, "--format", "text", check=True).stdout,
                       run(conf, "preview", "--to", addr, "--format", "html", check=True).stdout)
                for addr, _, _ in SUBSCRIBERS}
    p = run(conf, "run", check=True)
    out = tmp_path / "outbox"
    assert f"messages in {out}/new/" in p.stdout.decode()
    assert sorted(os.listdir(out)) == ["cur", "new", "tmp"]
    assert os.listdir(out / "tmp") == []
    files = sorted(os.listdir(out / "new"))
    due = [s for s in SUBSCRIBERS if expected_urls(s[2])]
    assert len(files) == len(due)
    by_to = {}
    for f in files:
        msg = parse((out / "new" / f).read_bytes())
        by_to[msg["To"].addresses[0].addr_spec] = msg
    for sub in due:
        # a Maildir keeps the message's CRLF line ends as they were written
        check_digest(by_to[sub[0]], sub, *previews[sub[0]], line_end=b"\r\n")
    p = run(conf, "run", check=True)
    assert "nothing new to send" in p.stdout.decode()
    assert len(os.listdir(out / "new")) == len(due)


def test_cli_contract(tmp_path):
    conf = write_site(tmp_path, "maildir")
    assert run(conf, "--version").returncode == 0
    for cmd in ("ingest", "status", "preview", "send", "run"):
        p = run(conf, cmd, "--help")
        assert p.returncode == 0 and f"usage: tagdigest {cmd}" in p.stdout.decode()
    assert run(conf, "frobnicate").returncode == 64
    assert run(conf, "preview").returncode == 64           # --to missing
    # a bad value names file, line and key, and exits 78
    bad = tmp_path / "bad.conf"
    bad.write_text(conf.read_text().replace("day = monday", "day = funday"))
    p = run(bad, "status")
    assert p.returncode == 78
    assert f"{bad}:" in p.stderr.decode() and "day" in p.stderr.decode()
    # -o overrides a value for this run only; a bad override is named
    p = run(conf, "-o", "schedule.day=someday", "status")
    assert p.returncode == 78 and "schedule.day" in p.stderr.decode()
    # status before any ingest says what to do
    p = run(conf, "status")
    assert p.returncode == 66 and "tagdigest ingest" in p.stderr.decode()


def test_fresh_secret_is_private(tmp_path):
    conf = write_site(tmp_path, "maildir")
    p = run(conf, "run", check=True)
    secret = secret_path(tmp_path)
    assert oct(os.stat(secret).st_mode & 0o777) == "0o600"
    assert "created a new token secret" in p.stderr.decode()


def test_cap_links_the_rest(tmp_path):
    """Above the per-digest cap, a section says how many more posts wait
    and links the tag's archive page; the subject still counts them all."""
    conf = write_site(tmp_path, "maildir")
    run(conf, "-o", "digest.max_posts=2", "run", check=True)
    out = tmp_path / "outbox" / "new"
    msgs = [parse(p.read_bytes()) for p in out.iterdir()]
    zoe = [m for m in msgs if m["To"].addresses[0].addr_spec == "zoe@example.net"][0]
    # zoe follows nato (post b) and usa (posts d, e): 3 posts, 2 shown
    assert zoe["Subject"].startswith("Nachrichten Wöchentlich: 3 new posts in ")
    text = zoe.get_body(("plain",)).get_content()
    html = zoe.get_body(("html",)).get_content()
    shown = {u for u in ("https://news.test/p/b/", "https://news.test/p/d/",
                         "https://news.test/p/e/") if u in text}
    assert len(shown) == 2 and "https://news.test/p/b/" in shown
    more = re.search(r"\.\.\.and 1 more in USA \[(\d+)\]", text)
    assert more, text
    assert f"[{more.group(1)}] https://news.test/tag/usa/" in text
    assert 'href="https://news.test/tag/usa/"' in html and "1 more in USA" in html


def test_preview_out_file(tmp_path):
    conf = write_site(tmp_path, "maildir")
    run(conf, "ingest", check=True)
    target = tmp_path / "preview.eml"
    p = run(conf, "preview", "--to", "li@example.com", "--out", str(target), check=True)
    assert p.stdout == b""
    msg = parse(target.read_bytes())
    assert msg["To"].addresses[0].display_name == "李小龍"
    assert not (tmp_path / "outbox").exists()      # preview sent nothing


def test_template_error_stops_before_sending(tmp_path):
    conf = write_site(tmp_path, "maildir")
    tpl = tmp_path / "templates" / "digest.html.mustache"
    lines = tpl.read_text(encoding="utf-8").split("\n")
    lines[2] = lines[2] + "{{#sections}}"           # line 3 opens a section it never closes
    tpl.write_text("\n".join(lines), encoding="utf-8")
    p = run(conf, "run")
    assert p.returncode != 0
    err = p.stderr.decode()
    assert f"{tpl}:3:" in err and "unclosed section 'sections'" in err, err
    assert not (tmp_path / "outbox" / "new").exists() or \
        os.listdir(tmp_path / "outbox" / "new") == []
    # a missing partial is caught the same way
    tpl.write_text("{{> no_such_partial}}", encoding="utf-8")
    p = run(conf, "send")
    assert p.returncode != 0 and "no_such_partial" in p.stderr.decode()


def test_send_removes_stale_tmp_files(tmp_path):
    """A delivery killed mid-write leaves its file in tmp/; like Maildir
    readers, send removes tmp/ files untouched for 36 hours, and nothing
    fresher (another writer may be mid-delivery), nothing but regular
    files, never following a link."""
    conf = write_site(tmp_path, "maildir")
    out = tmp_path / "outbox"
    for d in ("tmp", "new", "cur"):
        (out / d).mkdir(parents=True)
    old = time.time() - 37 * 3600
    stale = out / "tmp" / "1700000000.M1P4242Q1.host"
    stale.write_bytes(b"Subject: half a message\r\n\r\nand then the sender died")
    fresh = out / "tmp" / "1700000001.M2P4343Q1.host"
    fresh.write_bytes(b"Subject: being written\r\n")
    # last written 35 hours ago (last read 37 hours ago: a writer's
    # progress is what counts)
    os.utime(fresh, (old, time.time() - 35 * 3600))
    target = tmp_path / "not-in-the-maildir"
    target.write_bytes(b"keep me")
    link = out / "tmp" / "a-link"
    link.symlink_to(target)
    subdir = out / "tmp" / "a-directory"
    subdir.mkdir()
    for p in (stale, target, subdir):
        os.utime(p, (old, old))
    os.utime(link, (old, old), follow_symlinks=False)

    p = run(conf, "run", check=True)
    assert not stale.exists()
    assert fresh.read_bytes() == b"Subject: being written\r\n"
    assert link.is_symlink() and target.read_bytes() == b"keep me"
    assert subdir.is_dir()
    assert "maildir: removed 1 stale file from" in p.stderr.decode(), p.stderr.decode()
    # the run's digests were delivered all the same
    due = [s for s in SUBSCRIBERS if expected_urls(s[2])]
    got = sorted(parse(f.read_bytes())["To"].addresses[0].addr_spec
                 for f in (out / "new").iterdir())
    assert got == sorted(s[0] for s in due)
    assert sorted(os.listdir(out / "tmp")) == sorted([fresh.name, link.name, subdir.name])

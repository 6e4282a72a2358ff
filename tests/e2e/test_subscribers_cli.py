"""End to end: `tagdigest subscribers`, the editors' commands on the
roster the store keeps (add, remove, list, show, import, export).

Each test runs the real binary on a site from write_site(). What the
commands print is parsed (JSON with json.loads, CSV with Python's csv
module) and compared with what the test itself put in; the store's word
(an unsubscribe made on the public server) comes from a real `serve
--public` and a token made here, independently of tagdigest's token code.
"""
import csv
import datetime as dt
import fcntl
import io
import json
import os
import re
import subprocess
import time
import zoneinfo

import pytest

from conftest import BIN, expected_urls, run, write_site
from test_serve import ENV, Server, token

EDITOR = "editor-ann"


def sub(conf, *args, **kw):
    """`tagdigest subscribers ARGS` as the editor EDITOR."""
    env = dict(ENV)
    env["USER"] = EDITOR
    env.update(kw.pop("env", {}))
    return run(conf, "subscribers", *args, env=env, **kw)


def out(p):
    return p.stdout.decode()


def err(p):
    return p.stderr.decode()


def listed(conf, *args):
    """`list --json ARGS`: one JSON document, an array of subscribers."""
    p = sub(conf, "list", "--json", *args, check=True)
    got = json.loads(out(p))
    assert isinstance(got, list), got
    return got


def show(conf, addr):
    p = sub(conf, "show", addr, "--json", check=True)
    lines = out(p).splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


@pytest.fixture
def site(tmp_path):
    conf = write_site(tmp_path, "maildir")
    run(conf, "ingest", check=True, env=ENV)
    return conf


def next_site_slot(now):
    """The test site's next slot (Monday 08:00 Europe/Berlin) strictly
    after `now`, in UTC as --json writes times: worked out here with
    zoneinfo, not by tagdigest."""
    tz = zoneinfo.ZoneInfo("Europe/Berlin")
    day = now.astimezone(tz).date()
    for i in range(8):
        d = day + dt.timedelta(days=i)
        slot = dt.datetime.combine(d, dt.time(8, 0), tz)
        if d.weekday() == 0 and slot > now:
            return slot.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    raise AssertionError("no Monday within a week")


def write_csv(path, rows, header="email,name,tags"):
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


# ---- add, show, list, remove ----

def test_add_then_show_list_and_remove(site):
    p = sub(site, "add", "anna@example.org", "--tags", "NATO, North Korea",
            "--name", "Anna Schmidt")
    assert p.returncode == 0, err(p)
    assert "anna@example.org added, following nato, north-korea" in out(p)

    m = show(site, "anna@example.org")
    assert m["email"] == "anna@example.org" and m["name"] == "Anna Schmidt"
    assert m["status"] == "active" and m["tags"] == ["nato", "north-korea"]
    assert m["frequency"] == "weekly" and m["timezone"] is None and m["day"] is None
    assert m["origin"] == "cli"
    assert m["consent"]["how"] == "cli" and m["consent"]["from"] == EDITOR
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", m["created_at"])
    assert m["consent"]["at"] is not None
    # never sent anything: the last slot is theirs, so a digest is due now
    assert m["due_now"] is True and m["next_due"] is not None
    assert m["recent_digests"] == [] and m["unsubscribes"] == []

    text = out(sub(site, "show", "anna@example.org", check=True))
    assert "anna@example.org (Anna Schmidt)" in text
    assert re.search(r"schedule: +weekly, monday 08:00 Europe/Berlin \(the site's\)", text)
    assert re.search(r"consent: +\d{4}-\d\d-\d\d \d\d:\d\d CES?T, cli, from " + EDITOR, text)
    assert "next digest:  due now" in text

    # the same address again, other tags: an editor's word replaces an editor's
    p = sub(site, "add", "ANNA@example.org", "--tags", "usa")
    assert p.returncode == 0 and "updated, following usa" in out(p), out(p) + err(p)
    assert show(site, "anna@example.org")["tags"] == ["usa"]
    assert show(site, "anna@example.org")["name"] == "Anna Schmidt"
    p = sub(site, "add", "anna@example.org", "--tags", "usa")
    assert p.returncode == 0 and "nothing changed" in out(p)

    table = out(sub(site, "list", check=True)).splitlines()
    assert table[0].split() == ["EMAIL", "NAME", "STATUS", "TAGS", "FREQUENCY"]
    assert re.fullmatch(r"anna@example\.org +Anna Schmidt +active +usa +weekly", table[1])
    assert table[-1] == "(1 subscriber)"

    p = sub(site, "remove", "anna@example.org")
    assert p.returncode == 0 and "unsubscribed" in out(p), err(p)
    m = show(site, "anna@example.org")
    assert m["status"] == "unsubscribed" and m["next_due"] is None
    assert [(u["scope"], u["reason"], u["detail"]) for u in m["unsubscribes"]] == [
        ("all", "unsubscribed", f"subscribers remove by {EDITOR}")]
    assert "next digest:  none (unsubscribed)" in out(sub(site, "show", "anna@example.org"))
    # removing again is harmless and says so
    p = sub(site, "remove", "anna@example.org")
    assert p.returncode == 0 and "nothing changed" in out(p)


def test_add_to_a_row_of_the_subscriber_file(site):
    """An editor's add for a subscriber the file brought: done, and the
    editor is told the file's row sets the tags again when the file
    changes."""
    run(site, "send", check=True, env=ENV)   # syncs the file into the store
    assert show(site, "zoe@example.net")["origin"] == "csv"
    p = sub(site, "add", "zoe@example.net", "--tags", "iran")
    assert p.returncode == 0 and "updated, following iran" in out(p), err(p)
    assert "comes from the subscriber file" in err(p) and "change the row too" in err(p)
    assert show(site, "zoe@example.net")["tags"] == ["iran"]
    # not said for a subscriber the file does not have
    p = sub(site, "add", "cli-only@example.org", "--tags", "usa", check=True)
    p = sub(site, "add", "cli-only@example.org", "--tags", "iran", check=True)
    assert "subscriber file" not in err(p)


def test_usage_and_data_errors(site):
    cases = [
        (("add", "not an address", "--tags", "nato"), 65, "is not an address"),
        (("add", "a@b@example.org", "--tags", "nato"), 65, "a@b@example.org"),
        (("add", "x@example.org"), 64, "--tags is required"),
        (("add", "x@example.org", "--tags", " , ;"), 64, "--tags names no tag"),
        (("add", "x@example.org", "--tags", "nato", "--name", "Evil\r\nBcc: y@z"), 65,
         "the name"),
        (("add", "--tags", "nato"), 64, "an EMAIL is required"),
        (("add", "x@example.org", "y@example.org", "--tags", "nato"), 64,
         "unexpected argument"),
        (("frobnicate",), 64, "unknown command"),
        (("list", "--status", "happy"), 64, "--status is one of"),
        (("export", "--format", "xml"), 64, "--format is csv or json"),
        (("show", "nobody@example.org"), 67, "nobody@example.org is not a subscriber"),
        (("remove", "nobody@example.org"), 67, "nobody@example.org is not a subscriber"),
        (("import", "/nonexistent/file.csv"), 66, "/nonexistent/file.csv"),
    ]
    sub(site, "add", "keep@example.org", "--tags", "iran", check=True)
    for args, code, message in cases:
        p = sub(site, *args)
        assert p.returncode == code, (args, p.returncode, err(p))
        assert message in err(p), (args, err(p))
        assert not out(p), (args, out(p))
    # nothing but the one good add reached the store
    assert [m["email"] for m in listed(site)] == ["keep@example.org"]


def test_help_texts(site):
    p = sub(site, "--help", check=True)
    for c in ("add", "remove", "list", "show", "import", "export"):
        assert re.search(rf"^  {c} ", out(p), re.M), c
        h = out(sub(site, c, "--help", check=True))
        assert h.startswith(f"usage: tagdigest subscribers {c}")
    # the locking decision is in the help of the commands it concerns
    assert "does not take the run lock" in out(sub(site, "add", "--help"))
    assert "Takes the run lock" in out(sub(site, "import", "--help"))
    assert "subscribers" in out(run(site, "--help", check=True))


def test_list_filters_and_json_lines(site):
    people = [
        ("a1@example.org", "Zoë O'Brien, Esq.", "nato,usa"),
        ("a2@example.org", "李小龍", "north-korea"),
        ("a3@example.org", "Plain \"Quoted\" Name", "NATO"),
        ("a4@example.org", "", "iran"),
    ]
    for addr, name, tags in people:
        args = ["add", addr, "--tags", tags] + (["--name", name] if name else [])
        sub(site, *args, check=True)
    sub(site, "remove", "a3@example.org", check=True)

    every = listed(site)
    assert [m["email"] for m in every] == [p[0] for p in people]
    assert [m["name"] for m in every] == [p[1] for p in people]
    assert every[0]["tags"] == ["nato", "usa"]
    assert [m["email"] for m in listed(site, "--tag", "NATO")] == ["a1@example.org",
                                                                   "a3@example.org"]
    assert [m["email"] for m in listed(site, "--status", "active", "--tag", "nato")] == [
        "a1@example.org"]
    assert [m["email"] for m in listed(site, "--status", "unsubscribed")] == ["a3@example.org"]
    assert listed(site, "--tag", "weather") == []
    # the table: wide characters padded by their columns, one row each
    rows = out(sub(site, "list", check=True)).splitlines()
    assert len(rows) == 1 + len(people) + 1
    li = next(r for r in rows if r.startswith("a2@"))
    assert re.fullmatch(r"a2@example\.org +李小龍 +active +north-korea +weekly", li)


# ---- the reader's word wins ----

def test_store_word_wins_over_add_and_import(site, tmp_path):
    for addr in ("zoe@example.net", "li@example.com"):
        sub(site, "add", addr, "--tags", "nato", check=True)
    # zoe unsubscribes with the one-click link of a digest, on the public server
    s = Server(site, "--public")
    try:
        st, _, _ = s.post(f"/unsubscribe/{token('zoe@example.net')}",
                          "List-Unsubscribe=One-Click")
        assert st == 200
    finally:
        assert s.stop() == 0, s.output()
    assert show(site, "zoe@example.net")["status"] == "unsubscribed"
    assert [u["scope"] for u in show(site, "zoe@example.net")["unsubscribes"]] == ["all"]

    # an editor cannot bring her back, and is told why and how she can
    p = sub(site, "add", "zoe@example.net", "--tags", "usa", "--name", "Zoë")
    assert p.returncode == 77, (p.returncode, err(p))
    assert "zoe@example.net unsubscribed on" in err(p)
    assert "preference centre" in err(p) and "https://news.test/subscribe" in err(p)
    m = show(site, "zoe@example.net")
    assert m["status"] == "unsubscribed" and m["tags"] == ["nato"] and m["name"] == ""

    # nor can an import: counted as kept out, the rest of the file imported
    f = write_csv(tmp_path / "more.csv", ["zoe@example.net,Zoë,usa",
                                          "new@example.org,New Reader,usa"])
    p = sub(site, "import", str(f))
    assert p.returncode == 0, err(p)
    assert "2 rows: 1 added, 0 updated, 0 unchanged, 1 kept out" in out(p), out(p)
    assert show(site, "zoe@example.net")["status"] == "unsubscribed"
    assert show(site, "new@example.org")["status"] == "active"

    # nor an editor's own `remove` followed by `add`: only the reader comes back
    sub(site, "remove", "li@example.com", check=True)
    p = sub(site, "add", "li@example.com", "--tags", "nato")
    assert p.returncode == 77 and "only the reader" in err(p), err(p)


# ---- import ----

def test_import_is_all_or_nothing_with_file_and_line(site, tmp_path):
    f = write_csv(tmp_path / "batch.csv", [
        "one@example.org,One,nato",                      # line 2
        "two@example.org,\"Two, Jr.\",usa;iran",         # line 3
        "not-an-address,Broken,nato",                    # line 4: bad
        "three@example.org,Three,eu",                    # line 5
        "four@example.org,Four,",                        # line 6: no tags
    ])
    p = sub(site, "import", str(f))
    assert p.returncode == 65, (p.returncode, err(p))
    assert f"{f}:4:" in err(p) and f"{f}:6:" in err(p), err(p)
    assert f"{f}:2:" not in err(p) and f"{f}:5:" not in err(p)
    assert listed(site) == [], "a file with bad rows stored something"

    # fixed, checked with --dry-run first: says what would happen, stores nothing
    good = write_csv(tmp_path / "good.csv", [
        "one@example.org,One,nato",
        "two@example.org,\"Two, Jr.\",usa;iran",
        "three@example.org,Three,eu",
    ])
    p = sub(site, "import", str(good), "--dry-run")
    assert p.returncode == 0, err(p)
    assert "3 rows: 3 added, 0 updated, 0 unchanged" in out(p)
    assert "dry run: nothing stored" in out(p)
    assert listed(site) == []

    p = sub(site, "import", str(good))
    assert p.returncode == 0, err(p)
    assert "3 rows: 3 added, 0 updated, 0 unchanged, 0 kept out" in out(p), out(p)
    got = {m["email"]: (m["name"], m["tags"], m["origin"]) for m in listed(site)}
    assert got == {"one@example.org": ("One", ["nato"], "import"),
                   "two@example.org": ("Two, Jr.", ["usa", "iran"], "import"),
                   "three@example.org": ("Three", ["eu"], "import")}
    assert show(site, "two@example.org")["consent"]["from"] == f"{good}:3"

    # again, one row changed: updated, the others unchanged
    write_csv(good, ["one@example.org,One,nato;usa",
                     "two@example.org,\"Two, Jr.\",usa;iran",
                     "three@example.org,Three,eu"])
    p = sub(site, "import", str(good), check=True)
    assert "3 rows: 0 added, 1 updated, 2 unchanged" in out(p), out(p)


# ---- export ----

def export_rows(conf, *args):
    p = sub(conf, "export", *args, check=True)
    data = out(p)
    assert data.endswith("\r\n")
    return list(csv.DictReader(io.StringIO(data, newline="")))


def test_export_import_round_trip(site, tmp_path):
    people = {
        "q1@example.org": ("Zoë O'Brien, Esq.", ["nato", "usa"]),
        "q2@example.org": ('She said "hi"', ["north-korea"]),
        "q3@example.org": ("李小龍", ["usa"]),
        "q4@example.org": ("", ["iran", "eu"]),
    }
    for addr, (name, tags) in people.items():
        args = ["add", addr, "--tags", ",".join(tags)] + (["--name", name] if name else [])
        sub(site, *args, check=True)
    sub(site, "add", "gone@example.org", "--tags", "nato", check=True)
    sub(site, "remove", "gone@example.org", check=True)

    raw = out(sub(site, "export", check=True))
    assert raw.splitlines()[0] == ("email,name,tags,status,frequency,day,time,timezone,"
                                   "paused_until,origin,created_at,confirmed_at,changed_at,"
                                   "consent_at,consent_how,consent_from")
    # RFC 4180: a field with a comma or a quote is quoted, quotes doubled
    assert '"Zoë O\'Brien, Esq."' in raw and '"She said ""hi"""' in raw
    rows = export_rows(site)
    got = {r["email"]: (r["name"], r["tags"].split(";") if r["tags"] else []) for r in rows}
    assert got == people, "the default export is the active subscribers, as added"
    assert {r["status"] for r in rows} == {"active"}
    assert {r["consent_from"] for r in rows} == {EDITOR}
    everyone = export_rows(site, "--all")
    assert {r["email"]: r["status"] for r in everyone}["gone@example.org"] == "unsubscribed"
    assert [r["email"] for r in export_rows(site, "--status", "unsubscribed")] == [
        "gone@example.org"]

    # into a new store: the same list
    exported = tmp_path / "export.csv"
    exported.write_bytes(sub(site, "export", check=True).stdout)
    other = write_site(tmp_path / "other", "maildir")
    p = sub(other, "import", str(exported))
    assert p.returncode == 0, err(p)
    assert f"{len(people)} rows: {len(people)} added" in out(p)
    again = export_rows(other)
    key = ("email", "name", "tags", "status", "frequency", "day", "time", "timezone")
    assert [tuple(r[k] for k in key) for r in again] == [tuple(r[k] for k in key) for r in rows]
    # and into the same store: nothing changes
    p = sub(site, "import", str(exported), check=True)
    assert f"0 added, 0 updated, {len(people)} unchanged" in out(p), out(p)

    # JSON lines: one valid object a line, the same people
    lines = out(sub(site, "export", "--format", "json", check=True)).splitlines()
    objs = [json.loads(line) for line in lines]
    assert {o["email"]: (o["name"], o["tags"]) for o in objs} == people


# ---- the run lock ----

@pytest.mark.sqlite_only("holds the run lock file; a PostgreSQL store's locks are advisory locks")
def test_add_and_remove_work_while_a_run_holds_the_lock(site, tmp_path):
    """A send holds the run lock for as long as it sends; add and remove
    do not wait for it, import does not run under it (exit 75, nothing
    stored)."""
    lock_path = tmp_path / "var" / "store.db.lock"
    f = write_csv(tmp_path / "batch.csv", ["imp@example.org,Imp,usa"])
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert run(site, "ingest", env=ENV).returncode == 75  # the lock is held
        p = sub(site, "add", "busy@example.org", "--tags", "usa")
        assert p.returncode == 0, err(p)
        p = sub(site, "remove", "busy@example.org")
        assert p.returncode == 0, err(p)
        p = sub(site, "import", str(f))
        assert p.returncode == 75, (p.returncode, err(p))
        p = sub(site, "import", str(f), "--dry-run")
        assert p.returncode == 0 and "1 added" in out(p), err(p)
        assert [m["email"] for m in listed(site)] == ["busy@example.org"]
        assert show(site, "busy@example.org")["status"] == "unsubscribed"
    p = sub(site, "import", str(f))
    assert p.returncode == 0, err(p)
    assert [m["email"] for m in listed(site)] == ["busy@example.org", "imp@example.org"]


def test_add_and_remove_during_a_real_send(tmp_path, slow_sink):
    """While a send runs (the sink takes 2 s per message), an editor adds
    one reader and removes another: both commands finish at once, the send
    goes on, the removed reader gets nothing after the removal, and the
    one added mid-send waits for the next run."""
    conf = write_site(tmp_path, "smtp", slow_sink.url)
    run(conf, "ingest", check=True, env=ENV)
    env = dict(os.environ)
    env.update(ENV)
    proc = subprocess.Popen([BIN, "-c", str(conf), "send"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not os.listdir(slow_sink.dumps) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert os.listdir(slow_sink.dumps), "the send delivered nothing in 60 s"
        # plain@example.org is the fourth of the file: two messages of 2 s ahead
        p = sub(conf, "remove", "plain@example.org")
        assert p.returncode == 0, err(p)
        p = sub(conf, "add", "late@example.org", "--tags", "usa")
        assert p.returncode == 0, err(p)
        assert proc.poll() is None, "the send ended before the editor's commands did"
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    rcpts = [r for rs, _, _ in slow_sink.messages() for r in rs]
    assert sorted(rcpts) == ["juergen@example.org", "li@example.com", "zoe@example.net"], (
        rcpts, stdout.decode())
    assert show(conf, "plain@example.org")["status"] == "unsubscribed"
    # a reader who got this week's digest: it is in their history, and
    # the next one is due at the next slot
    before = dt.datetime.now(dt.timezone.utc)
    j = show(conf, "juergen@example.org")
    msg = next(m for rs, m, _ in slow_sink.messages() if rs == ["juergen@example.org"])
    assert [(d["status"], f"<{d['message_id']}>", d["posts"]) for d in j["recent_digests"]] == [
        ("sent", msg["Message-ID"], len(expected_urls(["sergey-lavrov"])))]
    assert j["due_now"] is False
    assert j["next_due"] in {next_site_slot(before),
                             next_site_slot(dt.datetime.now(dt.timezone.utc))}
    text = out(sub(conf, "show", "juergen@example.org", check=True))
    assert re.search(r"recent digests:\n +\d{4}-\d\d-\d\d 08:00 CES?T  sent 3 posts <[^>]+>", text)
    late = show(conf, "late@example.org")
    assert late["status"] == "active" and late["due_now"] is True


def test_list_pages_through_many(site, tmp_path):
    """More rows than one page of the roster (TD_ROSTER_PAGE, 512): every
    one listed once, in order."""
    n = 1300
    f = write_csv(tmp_path / "many.csv",
                  [f"m{i:05d}@example.org,Reader {i},{'nato' if i % 3 else 'usa'}"
                   for i in range(n)])
    sub(site, "import", str(f), check=True)
    emails = [m["email"] for m in listed(site)]
    assert emails == [f"m{i:05d}@example.org" for i in range(n)]
    usa = [m["email"] for m in listed(site, "--tag", "usa")]
    assert usa == [f"m{i:05d}@example.org" for i in range(0, n, 3)]
    rows = export_rows(site)
    assert len(rows) == n and rows[-1]["email"] == f"m{n - 1:05d}@example.org"

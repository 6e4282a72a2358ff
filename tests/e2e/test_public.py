"""End to end: the reader's pages of `tagdigest serve --public` over real
HTTP on 127.0.0.1: sign-up with double opt-in, confirmation, the
preference centre, the abuse rules, and unsubscribes while a send runs.

Each test starts the real binary on a free port against a site from
write_site() that sends through Postfix's smtp-sink (conftest.Sink); the
confirmation mails are read from the sink's dumps and parsed with Python's
email package (policy.default, defects checked). Purpose tokens for the
expired and tampered cases are made here with Python's hmac from the known
secret, independently of tagdigest's token code. What the store holds is
read with `tagdigest subscribers export --format json` and `status`.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import re
import socket
import subprocess
import time
import urllib.parse

import pytest

from conftest import BIN, open_store, run, write_site
from test_serve import ENV, SECRET, Server, b64, token, wait_for

BASE = "https://news.test"
CONFIRM_LINK = re.compile(re.escape(BASE) + r"(/confirm/[A-Za-z0-9_.-]+)")


def purpose_token(purpose, addr, detail="", expires=0, secret=SECRET):
    payload = f"{addr}\n{detail}\n{expires}".encode()
    mac = hmac.new(secret.encode(), purpose.encode() + b"\n" + payload,
                   hashlib.sha256).digest()
    return b64(payload) + "." + b64(mac)


def public_site(tmp_path, sink_url, public="", transport_extra=""):
    conf = write_site(tmp_path, "smtp", sink_url)
    text = conf.read_text(encoding="utf-8")
    text = text.replace("[transport]\n", "[transport]\n" + transport_extra, 1)
    conf.write_text(text + "[public]\n" f"url = {BASE}\n" + public, encoding="utf-8")
    run(conf, "ingest", check=True, env=ENV)
    run(conf, "subscribers", "import", str(tmp_path / "subscribers.csv"), check=True, env=ENV)
    return conf


def members(conf):
    """Every subscriber in the store, by lowercased address (JSON lines)."""
    out = run(conf, "subscribers", "export", "--format", "json", "--all",
              check=True, env=ENV).stdout.decode()
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {m["email"].lower(): m for m in rows}


def signed_up_from(conf, addr):
    """Where a pending sign-up came from, as the store keeps it until the
    confirmation (read straight from the store: no command shows it)."""
    with open_store(conf, readonly=True) as db:
        row = db.execute("SELECT pending_from FROM members WHERE email_key = ?",
                         (addr,)).fetchone()
    return row[0] if row else None


def mails_to(sink, addr):
    return [(r, m, raw) for r, m, raw in sink.messages() if addr in r]


def confirm_path(msg):
    """The /confirm/TOKEN path in a confirmation mail, the same in both
    parts."""
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    paths = set(CONFIRM_LINK.findall(text))
    assert len(paths) == 1, text
    assert paths == set(CONFIRM_LINK.findall(html)), html
    return paths.pop()


@pytest.fixture
def public(tmp_path, sink):
    """start(public="key = value\\n...") -> (conf, Server)."""
    servers = []
    made = {}

    def start(public="", transport_extra="", args=("--public",)):
        if "conf" not in made:
            made["conf"] = public_site(tmp_path, sink.url, public, transport_extra)
        s = Server(made["conf"], *args)
        servers.append(s)
        return made["conf"], s

    yield start
    for s in servers:
        rc = s.stop()
        assert rc == 0, f"serve exited {rc} on SIGTERM:\n{s.output()}"


def sign_up(s, email, tags=("nato",), frequency="weekly", name="", headers=None, **extra):
    fields = [("email", email), ("name", name)] + [("tags", t) for t in tags]
    fields += [("frequency", frequency)] + list(extra.items())
    return s.post("/subscribe", urllib.parse.urlencode(fields).encode(), headers=headers)


# ---- the form ----

def test_subscribe_form_is_accessible(public):
    conf, s = public(public="signup_tags = NATO, usa, North Korea\n")
    st, h, body = s.get("/subscribe")
    page = body.decode()
    assert st == 200 and h["content-type"].startswith("text/html")
    assert "script" not in page.lower()
    assert "default-src 'none'" in h["content-security-policy"]
    assert '<form id="subscribe-form" method="post">' in page
    # every input has a label; tags and frequency are fieldsets with legends
    for ident in ("email", "name", "tag-nato", "tag-usa", "tag-north-korea",
                  "frequency-weekly", "frequency-daily", "frequency-monthly"):
        assert re.search(rf'<input [^>]*id="{ident}"', page), ident
        assert f'<label for="{ident}">' in page, ident
    assert re.search(r'<fieldset id="tags"><legend>', page)
    assert re.search(r'<fieldset id="frequency"><legend>', page)
    assert 'input type="checkbox" name="tags" value="nato"' in page
    # signup_tags limits the offer: the site has these tags too
    assert 'value="eu"' not in page and 'value="iran"' not in page
    assert 'name="frequency" value="weekly" id="frequency-weekly" checked' in page
    assert 'id="subscribe"' in page and 'type="email"' in page
    assert 'name="viewport"' in page
    # the honeypot is there, out of sight and out of the keyboard order
    assert re.search(r'<input type="text" id="website" name="website" tabindex="-1"', page)


def test_form_checks(public, sink):
    conf, s = public()
    cases = [
        ({"email": "not an address", "tags": "nato"}, "email address"),
        ({"email": "", "tags": "nato"}, "enter your email"),
        ({"email": "ok@example.org"}, "at least one tag"),
        ({"email": "ok@example.org", "tags": "no-such-tag"}, "at least one tag"),
        ({"email": "ok@example.org", "tags": "nato", "frequency": "hourly"}, "weekly, daily"),
        ({"email": "ok@example.org", "tags": "nato", "name": "A\x01B"}, "name"),
    ]
    for fields, why in cases:
        st, _, body = s.post("/subscribe", fields)
        page = body.decode()
        assert st == 400, fields
        assert 'id="errors"' in page and why in page.lower(), (fields, page)
        # what was typed is kept, escaped
        assert '<form id="subscribe-form"' in page
    st, _, body = s.post("/subscribe", {"email": '"><script>x</script>@x', "tags": "nato"})
    assert st == 400 and b"<script>x" not in body
    time.sleep(0.5)
    assert sink.messages() == []
    assert "ok@example.org" not in members(conf)


# ---- the whole path ----

def test_sign_up_confirm_and_prefetchers(public, sink):
    conf, s = public()
    st, h, body = sign_up(s, "New.Reader@example.org", tags=("nato", "usa"),
                          frequency="daily", name="Neue Leserin")
    assert st == 200 and 'id="check-inbox"' in body.decode()
    assert h["cache-control"] == "no-store"
    m = members(conf)["new.reader@example.org"]
    assert m["status"] == "pending" and m["tags"] == ["nato", "usa"]
    got = wait_for(lambda: mails_to(sink, "New.Reader@example.org"))
    assert len(got) == 1, sink.messages()
    _, msg, _ = got[0]
    assert msg["To"].addresses[0].addr_spec == "New.Reader@example.org"
    assert "List-Unsubscribe" not in msg
    path = confirm_path(msg)

    # a link scanner GETs (and HEADs) every link of the mail: nothing happens
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    links = set(re.findall(re.escape(BASE) + r'(/[^\s"<>]*)', text + html))
    assert path in links
    for link in links:
        for method in ("GET", "HEAD"):
            st, _, _ = s.request(method, link.replace("&amp;", "&"))
            assert st in (200, 404), (method, link, st)
    assert members(conf)["new.reader@example.org"]["status"] == "pending"
    st, _, body = s.get(path)
    page = body.decode()
    assert st == 200 and 'id="confirm"' in page and "new.reader@example.org" in page.lower()
    assert '<form method="post">' in page

    # the button
    st, h, body = s.post(path, b"")
    page = body.decode()
    assert st == 200 and 'id="confirmed"' in page, page
    assert "NATO and USA" in page and "daily" in page
    assert re.search(r'id="next-due">\w+day \d\d \w+ 20\d\d, 08:00 CE', page), page
    pref = re.search(r'id="preferences" href="\.\./preferences/([A-Za-z0-9_.-]+)"', page)
    assert pref
    m = members(conf)["new.reader@example.org"]
    assert m["status"] == "active" and m["confirmed_at"]
    assert m["frequency"] == "daily"
    # consent: by the form, from the client that confirmed
    assert m["consent"]["how"] == "form" and m["consent"]["from"].startswith("127.0.0.1,")
    # a second click is harmless
    assert s.post(path, b"")[0] == 200
    # welcome = next-slot (the default): nothing more until their slot
    time.sleep(1.0)
    assert len(mails_to(sink, "New.Reader@example.org")) == 1
    # the preference link works
    st, _, body = s.get("/preferences/" + pref.group(1))
    assert st == 200 and 'id="save"' in body.decode()


def test_welcome_digest_at_once(public, sink):
    """welcome = now: the confirmation is followed by a first digest of the
    chosen tags, recorded so that no run sends it again."""
    conf, s = public(public="welcome = now\n")
    assert sign_up(s, "welcome@example.org", tags=("usa",))[0] == 200
    _, msg, _ = wait_for(lambda: mails_to(sink, "welcome@example.org"))[0]
    st, _, body = s.post(confirm_path(msg), b"")
    assert st == 200 and "on their way now" in body.decode()
    got = wait_for(lambda: [m for _, m, _ in mails_to(sink, "welcome@example.org")
                            if "List-Unsubscribe" in m])
    assert len(got) == 1
    text = got[0].get_body(("plain",)).get_content()
    assert "Tillerson call" in text and "Consulate closure" in text
    assert "Pyongyang" not in text and "Brüssel" not in text
    assert "/preferences/" in text
    shown = run(conf, "subscribers", "show", "welcome@example.org", check=True,
                env=ENV).stdout.decode()
    assert re.search(r"recent digests:\s*\n\s+.*sent 2 posts", shown), shown
    # the run that follows sends them nothing more
    run(conf, "send", check=True, env=ENV)
    assert len([m for _, m, _ in mails_to(sink, "welcome@example.org")
                if "List-Unsubscribe" in m]) == 1


def test_digest_links_never_act_on_get(public, sink):
    """A prefetcher walking every link of a real digest unsubscribes and
    changes nothing."""
    conf, s = public()
    run(conf, "send", check=True, env=ENV)
    digests = mails_to(sink, "zoe@example.net")
    assert len(digests) == 1
    _, msg, _ = digests[0]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    links = set(re.findall(re.escape(BASE) + r'(/(?:unsubscribe|preferences|confirm)/[^\s"<>]*)',
                           text + html + msg["List-Unsubscribe"]))
    assert any(link.startswith("/preferences/") for link in links), links
    assert any(link.startswith("/unsubscribe/") for link in links), links
    before = members(conf)
    before_status = run(conf, "status", check=True, env=ENV).stdout
    for link in links:
        for method in ("GET", "HEAD"):
            st, _, _ = s.request(method, link.replace("&amp;", "&"))
            assert st == 200, (method, link, st)
    assert members(conf) == before
    assert run(conf, "status", check=True, env=ENV).stdout == before_status


# ---- no enumeration, refused addresses ----

def test_one_answer_for_every_address(public, sink):
    conf, s = public(public="signups_per_hour = 100\n")
    # bounced and complained addresses, as the delivery engine leaves them
    with open_store(conf) as db:
        db.execute("UPDATE members SET status = 'bounced' WHERE email_key = 'li@example.com'")
        db.execute("UPDATE members SET status = 'complained' "
                   "WHERE email_key = 'plain@example.org'")
    assert sign_up(s, "pending@example.org")[0] == 200
    wait_for(lambda: mails_to(sink, "pending@example.org"))
    answers = {}
    for addr in ("fresh@example.org",      # unknown
                 "pending@example.org",    # waiting for its confirmation
                 "zoe@example.net",        # active
                 "li@example.com",         # bounced
                 "plain@example.org"):     # complained
        st, h, body = sign_up(s, addr)
        answers[addr] = (st, h["content-type"], body)
    assert len(set(answers.values())) == 1, {a: v[0] for a, v in answers.items()}
    assert next(iter(answers.values()))[0] == 200
    time.sleep(1.0)
    got = {r[0] for r, _, _ in sink.messages()}
    assert got == {"fresh@example.org", "pending@example.org"}, got
    assert len(mails_to(sink, "pending@example.org")) == 2
    m = members(conf)
    assert m["li@example.com"]["status"] == "bounced"
    assert m["plain@example.org"]["status"] == "complained"
    assert m["zoe@example.net"]["status"] == "active"


def test_mails_per_address_are_limited(public, sink):
    conf, s = public(public="confirm_mails_per_day = 2\nsignups_per_hour = 100\n")
    bodies = set()
    for _ in range(4):
        st, _, body = sign_up(s, "again@example.org")
        assert st == 200
        bodies.add(body)
    assert len(bodies) == 1
    time.sleep(1.0)
    assert len(wait_for(lambda: mails_to(sink, "again@example.org"))) == 2
    time.sleep(0.5)
    got = mails_to(sink, "again@example.org")
    assert len(got) == 2
    # only the newest link confirms; the older one says "sign up again"
    paths = [confirm_path(m) for _, m, _ in got]
    assert paths[0] != paths[1]
    stale = [p for p in paths if s.get(p)[0] == 410]
    assert len(stale) == 1
    newest = next(p for p in paths if p not in stale)
    assert s.post(stale[0], b"")[0] == 410
    assert members(conf)["again@example.org"]["status"] == "pending"
    assert s.post(newest, b"")[0] == 200
    assert members(conf)["again@example.org"]["status"] == "active"


def test_embedded_form_on_another_site(public, sink):
    """The README's plain form, pasted into another site, posts across
    origins: no CSRF token, the same answer, and the consent record says
    where the form was."""
    conf, s = public()
    headers = {"Origin": "https://blog.example", "Referer": "https://blog.example/about/",
               "Sec-Fetch-Site": "cross-site"}
    st, _, body = sign_up(s, "widget@example.org", tags=("usa",), headers=headers)
    assert st == 200 and 'id="check-inbox"' in body.decode()
    assert wait_for(lambda: mails_to(sink, "widget@example.org"))
    assert "embedded form" in signed_up_from(conf, "widget@example.org")
    # our own page's form says so too
    st, _, _ = sign_up(s, "page@example.org", headers={"Origin": BASE})
    assert st == 200
    assert "subscribe page" in signed_up_from(conf, "page@example.org")


def test_unsubscribed_reader_signs_up_again(public, sink):
    conf, s = public()
    assert s.post("/unsubscribe/" + token("zoe@example.net"),
                  {"List-Unsubscribe": "One-Click"})[0] == 200
    assert members(conf)["zoe@example.net"]["status"] == "unsubscribed"
    assert sign_up(s, "Zoe@Example.net", tags=("iran",))[0] == 200
    _, msg, _ = wait_for(lambda: mails_to(sink, "Zoe@Example.net"))[0]
    # until the confirmation the reader's word stands
    assert members(conf)["zoe@example.net"]["status"] == "unsubscribed"
    assert s.post(confirm_path(msg), b"")[0] == 200
    m = members(conf)["zoe@example.net"]
    assert m["status"] == "active" and m["tags"] == ["iran"]


def test_honeypot(public, sink):
    conf, s = public()
    st, _, trap = sign_up(s, "bot@example.org", website="http://spam.example")
    st2, _, real = sign_up(s, "person@example.org")
    assert st == st2 == 200 and trap == real
    wait_for(lambda: mails_to(sink, "person@example.org"))
    time.sleep(0.5)
    assert mails_to(sink, "bot@example.org") == []
    assert "bot@example.org" not in members(conf)


def test_sign_ups_per_client(public, sink):
    conf, s = public(public="signups_per_hour = 3\n")
    for i in range(3):
        assert sign_up(s, f"r{i}@example.org")[0] == 200
    st, h, body = sign_up(s, "r3@example.org")
    assert st == 429
    assert 0 < int(h["retry-after"]) <= 3600
    assert "r3@example.org" not in members(conf)
    # mistakes in the form are not counted against a person
    assert s.post("/subscribe", {"email": "bad"})[0] == 400


def test_forwarded_for_only_from_trusted_proxies(tmp_path, sink):
    conf = public_site(tmp_path, sink.url, "signups_per_hour = 1\n")
    direct = Server(conf, "--public")
    try:
        # not a trusted proxy: the header is ignored, the peer is the client
        assert sign_up(direct, "a@example.org",
                       headers={"X-Forwarded-For": "198.51.100.1"})[0] == 200
        assert sign_up(direct, "b@example.org",
                       headers={"X-Forwarded-For": "198.51.100.2"})[0] == 429
        assert signed_up_from(conf, "a@example.org").startswith("127.0.0.1 ")
    finally:
        assert direct.stop() == 0
    with open(conf, "a", encoding="utf-8") as f:
        f.write("trusted_proxies = 127.0.0.1, 10.0.0.7\n")
    proxied = Server(conf, "--public")
    try:
        xff = {"X-Forwarded-For": "198.51.100.1"}
        assert sign_up(proxied, "c@example.org", headers=xff)[0] == 200
        assert signed_up_from(conf, "c@example.org").startswith("198.51.100.1 ")
        assert sign_up(proxied, "d@example.org", headers=xff)[0] == 429
        # another reader behind the same proxy has their own budget
        assert sign_up(proxied, "e@example.org",
                       headers={"X-Forwarded-For": "198.51.100.2"})[0] == 200
        # what the client wrote left of the proxies' entries proves nothing;
        # a second trusted hop is skipped
        spoof = {"X-Forwarded-For": "203.0.113.9, 198.51.100.1, 10.0.0.7"}
        assert sign_up(proxied, "f@example.org", headers=spoof)[0] == 429
        assert sign_up(proxied, "g@example.org",
                       headers={"X-Forwarded-For": "2001:db8::1"})[0] == 200
        assert signed_up_from(conf, "g@example.org").startswith("2001:db8::1 ")
        # two headers (a proxy that adds its own line): the last one's
        # right-most entry counts
        c = http.client.HTTPConnection("127.0.0.1", proxied.port, timeout=10)
        try:
            body = b"email=j%40example.org&tags=nato"
            c.putrequest("POST", "/subscribe")
            c.putheader("Content-Type", "application/x-www-form-urlencoded")
            c.putheader("Content-Length", str(len(body)))
            c.putheader("X-Forwarded-For", "198.51.100.2")
            c.putheader("X-Forwarded-For", "198.51.100.3, 10.0.0.7")
            c.endheaders(body)
            assert c.getresponse().status == 200
        finally:
            c.close()
        assert signed_up_from(conf, "j@example.org").startswith("198.51.100.3 ")
        # an entry that is no address ends the walk at the proxy before it
        assert sign_up(proxied, "k@example.org",
                       headers={"X-Forwarded-For": "198.51.100.4, unknown"})[0] == 200
        assert signed_up_from(conf, "k@example.org").startswith("127.0.0.1 ")
        # no header from the proxy: the proxy itself is the client, whose
        # budget k@ used
        assert sign_up(proxied, "h@example.org")[0] == 429
    finally:
        assert proxied.stop() == 0


# ---- tokens ----

def test_expired_and_tampered_tokens(public, sink):
    conf, s = public()
    assert sign_up(s, "late@example.org")[0] == 200
    _, msg, _ = wait_for(lambda: mails_to(sink, "late@example.org"))[0]
    path = confirm_path(msg)
    tok = path.split("/")[-1]
    email, nonce, expires = base64.urlsafe_b64decode(
        tok.split(".")[0] + "==").decode().split("\n")
    assert email == "late@example.org" and int(expires) > time.time()
    # the same sign-up, its link made to expire an hour ago
    late = purpose_token("confirm", email, nonce, int(time.time()) - 3600)
    for method in ("GET", "POST"):
        st, _, body = s.request(method, "/confirm/" + late)
        assert st == 410 and "sign up again" in body.decode().lower()
    assert members(conf)["late@example.org"]["status"] == "pending"

    bad_bodies = set()
    zoe_pref = purpose_token("preferences", "zoe@example.net")
    assert s.get("/preferences/" + zoe_pref)[0] == 200
    tampered = [
        tok[:-2] + ("AA" if not tok.endswith("AA") else "BB"),        # MAC changed
        b64(f"zoe@example.net\n{nonce}\n{expires}".encode()) + "." + tok.split(".")[1],
        purpose_token("confirm", email, nonce, expires, secret="another secret"),
        purpose_token("preferences", email, nonce, expires),          # wrong purpose
        token(email),                                                 # an unsubscribe token
        "not-a-token", "x" * 3000, "%00",
    ]
    for bad in tampered:
        for method in ("GET", "POST"):
            st, _, body = s.request(method, "/confirm/" + bad)
            assert st == 400, (bad, method)
            bad_bodies.add(body)
    pref_tampered = [
        zoe_pref[:-2] + ("AA" if not zoe_pref.endswith("AA") else "BB"),
        purpose_token("confirm", "zoe@example.net"),
        purpose_token("preferences", "zoe@example.net", "", int(time.time()) - 60),
        token("zoe@example.net"),
        "not-a-token",
    ]
    for bad in pref_tampered:
        st, _, body = s.get("/preferences/" + bad)
        assert st == 400, bad
        bad_bodies.add(body)
        st, _, body = s.post("/preferences/" + bad, {"action": "unsubscribe"})
        assert st == 400, bad
        bad_bodies.add(body)
    # and the unsubscribe pages' own 400: one answer for every bad token
    st, _, body = s.get("/unsubscribe/not-a-token")
    assert st == 400
    bad_bodies.add(body)
    assert len(bad_bodies) == 1, bad_bodies
    m = members(conf)
    assert m["late@example.org"]["status"] == "pending"
    assert m["zoe@example.net"]["status"] == "active"


def test_pending_sign_ups_are_purged(tmp_path, sink):
    conf = public_site(tmp_path, sink.url, "confirm_hours = 2\n")
    s = Server(conf, "--public")
    try:
        assert sign_up(s, "slow@example.org")[0] == 200
        assert sign_up(s, "quick@example.org")[0] == 200
        got = wait_for(lambda: len(sink.messages()) == 2 and sink.messages())
        assert got
    finally:
        assert s.stop() == 0
    path = confirm_path(mails_to(sink, "slow@example.org")[0][1])
    # the confirmation mail to slow@ went out 25 hours ago: its link is
    # dead (2 h) and its day of confirmation mails is over
    with open_store(conf) as db:
        db.execute("UPDATE members SET confirm_sent_at = confirm_sent_at - 25 * 3600 "
                   "WHERE email_key = 'slow@example.org'")
    s = Server(conf, "--public")     # the purge runs when the server starts
    try:
        assert wait_for(lambda: "slow@example.org" not in members(conf), timeout=10)
        assert members(conf)["quick@example.org"]["status"] == "pending"
        # its link died with it, though the token itself has not expired
        st, _, body = s.post(path, b"")
        assert st == 410 and "sign up again" in body.decode().lower()
        assert "slow@example.org" not in members(conf)
        assert "purged 1 sign-up" in s.output()
    finally:
        assert s.stop() == 0


def test_purge_keeps_the_daily_mail_count(tmp_path, sink):
    """A pending row also counts its address's confirmation mails for a
    day: with a link life of one hour, purging it after that hour would
    let a stranger be mailed three times every hour instead of three times
    a day."""
    v = "victim@example.org"
    conf = public_site(tmp_path, sink.url, "confirm_hours = 1\nsignups_per_hour = 100\n")
    s = Server(conf, "--public")
    try:
        for _ in range(4):
            assert sign_up(s, v)[0] == 200
        assert wait_for(lambda: len(mails_to(sink, v)) == 3)
    finally:
        assert s.stop() == 0
    # the last mail went out two hours ago: its link is dead
    with open_store(conf) as db:
        db.execute("UPDATE members SET confirm_sent_at = confirm_sent_at - 2 * 3600 "
                   "WHERE email_key = ?", (v,))
    s = Server(conf, "--public")     # the purge runs when the server starts
    try:
        time.sleep(0.5)
        assert members(conf)[v]["status"] == "pending"
        for _ in range(3):
            assert sign_up(s, v)[0] == 200
        time.sleep(1.5)
        assert len(mails_to(sink, v)) == 3
        assert "purged" not in s.output()
    finally:
        assert s.stop() == 0


def test_lifting_a_removal_never_confirms_for_the_reader(public, sink):
    """An editor who removes a sign-up that was never confirmed and later
    lifts it with `unsuppress` gives it back its pending state, not a
    subscription: only the reader's click is a double opt-in."""
    conf, s = public()
    v = "never.confirmed@example.org"
    assert sign_up(s, v)[0] == 200
    assert wait_for(lambda: len(mails_to(sink, v)) == 1)
    assert members(conf)[v]["status"] == "pending"
    run(conf, "subscribers", "remove", v, check=True, env=ENV)
    assert members(conf)[v]["status"] == "unsubscribed"
    run(conf, "unsuppress", v, check=True, env=ENV)
    assert members(conf)[v]["status"] == "pending"
    run(conf, "send", check=True, env=ENV)
    assert len(mails_to(sink, v)) == 1          # the confirmation, no digest


def test_resubscribed_reader_survives_the_file_sync(public, sink):
    """A reader from the editors' file who left, whose row the editor then
    dropped, and who came back in the preference centre is the reader's
    own now: a later sync of the edited file does not delete them."""
    conf, s = public()
    csv = conf.parent / "subscribers.csv"
    orig = csv.read_text(encoding="utf-8")
    v = "carol@example.org"
    csv.write_text(orig + f"{v},Carol,nato\n", encoding="utf-8")
    run(conf, "send", check=True, env=ENV)
    assert members(conf)[v]["status"] == "active"
    tok = purpose_token("preferences", v)
    assert s.post(f"/preferences/{tok}", b"action=unsubscribe")[0] == 200
    csv.write_text(orig, encoding="utf-8")       # the editor tidies the file
    run(conf, "send", check=True, env=ENV)
    assert members(conf)[v]["status"] == "unsubscribed"
    assert s.post(f"/preferences/{tok}", b"action=resubscribe")[0] == 200
    assert members(conf)[v]["status"] == "active"
    csv.write_text(orig + "dave@example.org,Dave,nato\n", encoding="utf-8")
    run(conf, "send", check=True, env=ENV)       # any later edit syncs again
    assert members(conf)[v]["status"] == "active"
    assert members(conf)["dave@example.org"]["status"] == "active"


# ---- the preference centre ----

def test_preferences_apply_to_the_store(public, sink):
    conf, s = public()
    path = "/preferences/" + purpose_token("preferences", "zoe@example.net")
    st, h, body = s.get(path)
    page = body.decode()
    assert st == 200 and h["referrer-policy"] == "no-referrer"
    for ident in ("day", "timezone", "pause_weeks"):
        assert re.search(rf'<select id="{ident}" name="{ident}">', page), ident
    assert re.search(r'<input type="time" id="time" name="time" value="08:00"', page)
    assert '<option value="monday" selected>' in page
    assert "<option selected>Europe/Berlin</option>" in page
    assert "<option>Asia/Tokyo</option>" in page
    for ident in ("save", "unsubscribe-all"):
        assert f'id="{ident}"' in page
    assert 'id="resubscribe"' not in page
    assert re.search(r'name="tags" value="nato" id="tag-nato" checked', page)
    assert re.search(r'name="tags" value="iran" id="tag-iran">', page)

    fields = [("action", "save"), ("tags", "iran"), ("tags", "north-korea"),
              ("frequency", "monthly"), ("day", "tuesday"), ("time", "07:30"),
              ("timezone", "Asia/Tokyo"), ("pause_weeks", "2")]
    st, _, body = s.post(path, urllib.parse.urlencode(fields).encode())
    page = body.decode()
    assert st == 200 and 'id="notice"' in page, page
    assert re.search(r"Your next digest: <strong>Tuesday \d\d \w+ 20\d\d, 07:30 JST", page), page
    assert "paused until" in page
    m = members(conf)["zoe@example.net"]
    assert m["tags"] == ["iran", "north-korea"]
    assert (m["frequency"], m["day"], m["time"], m["timezone"]) == \
        ("monthly", "tuesday", "07:30", "Asia/Tokyo")
    assert m["paused_until"] and m["reader_choice"]
    paused = m["paused_until"]
    # saving again with the pause as shown keeps its end
    fields[-1] = ("pause_weeks", re.search(r'<option value="(\d+)" selected>For',
                                           page).group(1))
    assert s.post(path, urllib.parse.urlencode(fields).encode())[0] == 200
    assert members(conf)["zoe@example.net"]["paused_until"] == paused

    # bad values change nothing
    for bad in (("timezone", "Mars/Olympus"), ("timezone", "../../../etc/passwd"),
                ("day", "someday"), ("time", "25:00"), ("pause_weeks", "53"),
                ("frequency", "hourly")):
        f = dict(fields)
        f[bad[0]] = bad[1]
        st, _, body = s.post(path, f)
        assert st == 400 and 'id="errors"' in body.decode(), bad
    st, _, _ = s.post(path, {"action": "save", "day": "monday", "time": "08:00"})
    assert st == 400     # no tag
    assert members(conf)["zoe@example.net"]["tags"] == ["iran", "north-korea"]

    # everything off, and back
    st, _, body = s.post(path, {"action": "unsubscribe"})
    assert st == 200 and 'id="resubscribe"' in body.decode()
    assert members(conf)["zoe@example.net"]["status"] == "unsubscribed"
    st, _, body = s.post(path, {"action": "resubscribe"})
    assert st == 200 and 'id="unsubscribe-all"' in body.decode()
    assert members(conf)["zoe@example.net"]["status"] == "active"
    assert s.post(path, {"action": "explode"})[0] == 400
    # an unknown reader's (authentic) link
    st, _, body = s.get("/preferences/" + purpose_token("preferences", "ghost@example.org"))
    assert st == 404 and "../subscribe" in body.decode()


def test_unsubscribe_page_links_to_preferences(public):
    conf, s = public()
    st, _, body = s.get("/unsubscribe/" + token("zoe@example.net"))
    link = re.search(r'href="\.\./preferences/([^"]+)"', body.decode())
    assert st == 200 and link
    assert s.get("/preferences/" + link.group(1))[0] == 200
    st, _, body = s.post("/unsubscribe/" + token("zoe@example.net"),
                         {"List-Unsubscribe": "One-Click"})
    assert st == 200 and "../preferences/" in body.decode()


# ---- while a send runs ----

def test_unsubscribe_during_a_send_is_recorded_at_once(tmp_path, slow_sink):
    """A one-click POST that arrives while `send` holds the run lock is
    recorded at once (200, not 503), and that reader gets no digest from
    the run. The sink waits 2 s before each DATA answer and the run has one
    connection, so the run lasts about 8 s; plain@ comes fourth."""
    conf = public_site(tmp_path, slow_sink.url, "", transport_extra="connections = 1\n")
    s = Server(conf, "--public")
    send = None
    try:
        send = subprocess.Popen([BIN, "-c", str(conf), "send"], env=dict(os.environ, **ENV),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        # the run holds the lock; its first message is through
        dumps = pathlib.Path(slow_sink.dumps)
        assert wait_for(lambda: any(dumps.iterdir()) or send.poll() is not None,
                        timeout=30)
        assert send.poll() is None, "the send ended before the test could click"
        t0 = time.monotonic()
        st, _, body = s.post("/unsubscribe/" + token("plain@example.org"),
                             {"List-Unsubscribe": "One-Click"})
        took = time.monotonic() - t0
        assert st == 200, body
        assert took < 5, took
        assert members(conf)["plain@example.org"]["status"] == "unsubscribed"
        assert send.poll() is None, "the send ended before the click was checked"
        out, _ = send.communicate(timeout=120)
        assert send.returncode == 0, out
    finally:
        if send and send.poll() is None:
            send.kill()
            send.wait()
        assert s.stop() == 0
    got = {r[0] for r, _, _ in slow_sink.messages()}
    assert "plain@example.org" not in got, got
    assert {"juergen@example.org", "zoe@example.net"} <= got


# ---- the server itself ----

def test_answers_under_slowloris(public):
    """Half-open connections from four addresses, more than the per-address
    limit each: the server keeps answering a reader at another address."""
    conf, s = public()
    held = []
    try:
        for host in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
            for _ in range(24):
                c = socket.socket()
                c.settimeout(2)
                c.bind((host, 0))
                try:
                    c.connect(("127.0.0.1", s.port))
                    c.sendall(b"GET /subscribe HTTP/1.1\r\nHost: news.test\r\nX-a: b\r\n")
                except OSError:
                    pass
                held.append(c)
        ok = 0
        for _ in range(5):
            st, _, body = s.get("/subscribe", timeout=5)
            ok += st == 200 and b'id="subscribe-form"' in body
        assert ok == 5
        # an unsubscribe is recorded all the same
        assert s.post("/unsubscribe/" + token("zoe@example.net"),
                      {"List-Unsubscribe": "One-Click"}, timeout=5)[0] == 200
    finally:
        for c in held:
            c.close()
    assert members(conf)["zoe@example.net"]["status"] == "unsubscribed"


def half_open(port, host, n, pause=0.0):
    """n connections from host, each with half a request sent; pause
    seconds after each, so the server has accepted one before the next
    comes (its per-address check and count are not one step: serve.c)."""
    held = []
    for _ in range(n):
        time.sleep(pause)
        c = socket.socket()
        c.settimeout(2)
        c.bind((host, 0))
        try:
            c.connect(("127.0.0.1", port))
            c.sendall(b"GET /subscribe HTTP/1.1\r\nHost: news.test\r\nX-a: b\r\n")
        except OSError:
            pass
        held.append(c)
    return held


def closed_by_server(conns, wait=1.5):
    """How many of conns the server has closed (EOF or reset)."""
    time.sleep(wait)
    closed = 0
    for c in conns:
        c.setblocking(False)
        try:
            closed += c.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def test_connections_per_address(tmp_path, sink):
    """max_connections_per_ip holds for clients, not for a trusted proxy,
    which carries every reader's connections."""
    conf = public_site(tmp_path, sink.url, "max_connections_per_ip = 8\n"
                       "trusted_proxies = 127.0.0.1\n")
    s = Server(conf, "--public")
    held = []
    try:
        client = half_open(s.port, "127.0.0.2", 12, pause=0.05)
        held += client
        proxy = half_open(s.port, "127.0.0.1", 12)
        held += proxy
        assert closed_by_server(client) == 4
        assert closed_by_server(proxy, wait=0) == 0
        st, _, _ = s.get("/subscribe", timeout=5)
        assert st == 200
    finally:
        for c in held:
            c.close()
        assert s.stop() == 0

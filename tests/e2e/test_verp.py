"""End to end: the VERP return path ([bounces] return_path, verp.h).

Digests go through Postfix's smtp-sink (conftest.Sink), whose dumps hold
the envelope (X-Mail-Args: MAIL FROM, X-Rcpt-Args: RCPT TO). Each MAIL
FROM's token is decoded and checked here, in Python, from verp.h's
description alone: base32 (lowercase, no padding) of kind, LEB128 member
id, LEB128 slot / 60 and the first 10 bytes of HMAC-SHA256 under the
secret this test writes, over "verp\\n" kind id slot and the lowercased
recipient. Member ids are read from the store (conftest.open_store); the slot is
worked out with zoneinfo from the site's [schedule].
"""
import base64
import datetime
import hashlib
import hmac
import os
import re
import urllib.parse
import zoneinfo

from conftest import SUBSCRIBERS, open_store, run, write_site
from test_serve import Server, wait_for

SECRET = "verp-e2e-secret-0123456789abcdefghij"
# an empty variable: the secret comes from the file the test writes
NOENV = {"TAGDIGEST_TOKEN_SECRET": ""}
RETURN_PATH = "bounces+{token}@return.news.test"
MAC_BYTES = 10


def verp_site(tmp_path, sink_url, bounces="return_path = " + RETURN_PATH + "\n", extra=""):
    conf = write_site(tmp_path, "smtp", sink_url)
    secret = tmp_path / "token.secret"
    secret.write_text(SECRET + "\n")
    os.chmod(secret, 0o600)
    text = conf.read_text(encoding="utf-8")
    conf.write_text(text + f"[secrets]\ntoken_secret_file = {secret}\n" +
                    ("[bounces]\n" + bounces if bounces else "") + extra,
                    encoding="utf-8")
    run(conf, "ingest", check=True, env=NOENV)
    return conf


def leb128(raw, i):
    v, shift = 0, 0
    while True:
        b = raw[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def leb128_bytes(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def decode(mail_from, prefix="bounces+", suffix="@return.news.test"):
    """(kind, member id, slot, mac) of the token in mail_from."""
    assert mail_from.startswith(prefix) and mail_from.endswith(suffix), mail_from
    token = mail_from[len(prefix):len(mail_from) - len(suffix)]
    assert re.fullmatch(r"[a-z2-7]+", token), token
    raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
    kind = chr(raw[0])
    member_id, i = leb128(raw, 1)
    minutes, i = leb128(raw, i)
    assert len(raw) - i == MAC_BYTES, raw
    return kind, member_id, minutes * 60, raw[i:]


def mac_for(kind, member_id, slot, address):
    data = (b"verp\n" + kind.encode() + leb128_bytes(member_id) +
            leb128_bytes(slot // 60) + address.lower().encode())
    return hmac.new(SECRET.encode(), data, hashlib.sha256).digest()[:MAC_BYTES]


def envelopes(sink):
    """(MAIL FROM, [RCPT TO], message) of each message the sink took."""
    out = []
    for rcpts, msg, _ in sink.messages():
        args = msg.get_all("X-Mail-Args", [])
        assert len(args) == 1, args
        out.append((args[0].split()[0].strip("<>"), rcpts, msg))
    return out


def member_ids(conf):
    with open_store(conf, readonly=True) as db:
        return {key: mid for key, mid in db.execute("SELECT email_key, id FROM members")}


def last_slot(now):
    """The site's last slot at or before now: Monday 08:00 Europe/Berlin."""
    zone = zoneinfo.ZoneInfo("Europe/Berlin")
    local = now.astimezone(zone)
    day = local.date() - datetime.timedelta(days=local.weekday())
    slot = datetime.datetime.combine(day, datetime.time(8, 0), tzinfo=zone)
    if slot > local:
        slot -= datetime.timedelta(days=7)
    return int(slot.timestamp())


def test_every_digest_has_its_own_signed_return_path(tmp_path, sink):
    conf = verp_site(tmp_path, sink.url)
    before = datetime.datetime.now(datetime.timezone.utc)
    run(conf, "send", check=True, env=NOENV)
    after = datetime.datetime.now(datetime.timezone.utc)
    slots = {last_slot(before), last_slot(after)}
    got = envelopes(sink)
    ids = member_ids(conf)
    # the weather reader's digest is empty: skipped, not sent
    want = {a.lower() for a, _, tags in SUBSCRIBERS if tags != ["weather"]}
    assert {r[0].lower() for _, r, _ in got} == want
    assert len(got) == len(want)
    seen = set()
    for mail_from, rcpts, msg in got:
        assert len(rcpts) == 1
        rcpt = rcpts[0]
        local = mail_from.split("@")[0]
        assert len(local) <= 64
        kind, member_id, slot, mac = decode(mail_from)
        assert kind == "d"
        assert member_id == ids[rcpt.lower()] and member_id > 0
        assert slot in slots
        assert hmac.compare_digest(mac, mac_for(kind, member_id, slot, rcpt))
        # signed for this reader only
        others = [a for a in want if a != rcpt.lower()]
        assert all(mac != mac_for(kind, member_id, slot, o) for o in others)
        # the header From stays the site's; no Return-Path of our own
        assert msg["From"].addresses[0].addr_spec == "digest@news.test"
        assert "Return-Path" not in msg
        seen.add(mail_from)
    assert len(seen) == len(got)        # one envelope per reader


def test_without_return_path_the_envelope_is_site_from(tmp_path, sink):
    conf = verp_site(tmp_path, sink.url, bounces="")
    run(conf, "send", check=True, env=NOENV)
    got = envelopes(sink)
    assert len(got) == len(SUBSCRIBERS) - 1
    assert {f for f, _, _ in got} == {"digest@news.test"}


def test_confirmation_and_welcome_from_the_public_form(tmp_path, sink):
    conf = verp_site(tmp_path, sink.url,
                     extra="[public]\nurl = https://news.test\nwelcome = now\n")
    run(conf, "subscribers", "import", str(tmp_path / "subscribers.csv"), check=True,
        env=NOENV)
    s = Server(conf, "--public", env=NOENV)
    try:
        addr = "Signed.Up@example.org"
        fields = urllib.parse.urlencode([("email", addr), ("name", ""), ("tags", "usa"),
                                         ("frequency", "weekly")]).encode()
        st, _, _ = s.post("/subscribe", fields)
        assert st == 200
        got = wait_for(lambda: [e for e in envelopes(sink) if e[1] == [addr]])
        assert len(got) == 1
        mail_from, _, msg = got[0]
        kind, member_id, slot, mac = decode(mail_from)
        ids = member_ids(conf)
        assert kind == "c" and slot == 0
        assert member_id == ids[addr.lower()] and member_id > 0
        assert mac == mac_for("c", member_id, 0, addr)
        text = msg.get_body(("plain",)).get_content()
        path = re.search(r"https://news\.test(/confirm/[A-Za-z0-9_.-]+)", text).group(1)
        assert s.post(path, b"")[0] == 200
        got = wait_for(lambda: [e for e in envelopes(sink) if e[1] == [addr] and
                                "List-Unsubscribe" in e[2]])
        assert len(got) == 1
        kind, wid, wslot, wmac = decode(got[0][0])
        assert kind == "w" and wid == member_id and wslot > 0
        assert wmac == mac_for("w", wid, wslot, addr)
    finally:
        assert s.stop() == 0


def test_desk_test_send_names_nobody(tmp_path, sink):
    """A test of zoe's digest sent from the desk to an editor's address:
    kind t, no member id, no slot, signed for the test address, so its
    bounce can never count against zoe."""
    conf = verp_site(tmp_path, sink.url)
    s = Server(conf, env=NOENV)
    try:
        page = s.get("/preview?to=zoe@example.net")[2].decode()
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
        origin = f"http://127.0.0.1:{s.port}"
        st, _, body = s.post("/test-send", {"csrf": csrf, "to": "zoe@example.net",
                                            "address": "Editor@Desk.example"},
                             headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert st == 200, body
        got = wait_for(lambda: envelopes(sink))
        assert len(got) == 1 and got[0][1] == ["Editor@Desk.example"]
        kind, member_id, slot, mac = decode(got[0][0])
        assert (kind, member_id, slot) == ("t", 0, 0)
        assert mac == mac_for("t", 0, 0, "editor@desk.example")
        assert mac != mac_for("t", 0, 0, "zoe@example.net")
    finally:
        assert s.stop() == 0


def test_bad_return_paths_are_refused_with_file_and_line(tmp_path):
    conf = write_site(tmp_path, "maildir")
    base = conf.read_text(encoding="utf-8")
    line = base.count("\n") + 2          # after the [bounces] header
    cases = [
        ("b+{token}+{token}@news.test", "has {token} twice"),
        ("bounces@news.test", "has no {token}"),
        ("bounces@{token}.news.test", "has {token} in the domain"),
        ("a-rather-long-bounce-prefix+{token}@news.test",
         "the local part would be 75 characters with the longest token (47)"),
    ]
    for value, why in cases:
        conf.write_text(base + f"[bounces]\nreturn_path = {value}\n", encoding="utf-8")
        p = run(conf, "status")
        err = p.stderr.decode()
        assert p.returncode == 78, err
        assert f"{conf}:{line}: bounces.return_path: '{value}' {why}" in err, err

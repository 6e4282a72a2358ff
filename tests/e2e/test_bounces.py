"""`tagdigest bounces`, end to end: digests go out with a VERP return path
to smtp-sink, which dumps each message with the envelope sender it got
(X-Mail-Args); the test writes what a receiving server would send back to
that address (DSNs, a feedback report, an auto-reply: built with the email
package, BRIEF-2 §5) into a local Maildir, runs `tagdigest bounces`, and
reads the outcome back through `subscribers show --json`, the next send
(what the sink gets), the Maildir and the store.

The kill test SIGKILLs `tagdigest bounces` at varied points over a Maildir
of hundreds of returned mails, some while the test holds the store's write
lock (so the kill falls between a fetch and its record), and puts copies
of processed mails back (a removal that never happened), then runs it to
the end: every mail is counted exactly once and every processed mail is
gone.
"""
import base64
import datetime
import email.policy
import hashlib
import hmac
import json
import os
import random
import re
import subprocess
import time
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from conftest import BIN, Sink, kill, open_store, run, secret_path, write_site

RETURN_PATH = "bounces+{token}@news.test"
VERP_RE = re.compile(r"^bounces\+[a-z2-7]+@news\.test$")
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


# ---- the site ----

def bounce_site(tmp_path, sink, *, verp=True, extra=""):
    """The conftest site over smtp-sink, with a [bounces] section reading a
    Maildir in tmp_path/bounces; returns (config, maildir)."""
    conf = write_site(tmp_path, "smtp", sink.url)
    box = tmp_path / "bounces"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    with open(conf, "a", encoding="utf-8") as f:
        f.write("[bounces]\n" + (f"return_path = {RETURN_PATH}\n" if verp else "") +
                f"mailbox = maildir:{box}\n" + extra)
    return conf, box


def envelope_senders(sink):
    """{recipient: envelope sender} of every message the sink dumped."""
    out = {}
    for rcpts, msg, _ in sink.messages():
        args = msg.get_all("X-Mail-Args", [])
        assert len(args) == 1, args
        sender = args[0].split()[0].strip("<>")
        for r in rcpts:
            out[r] = sender
    return out


def first_send(conf, sink):
    """ingest and send; returns {recipient: VERP envelope sender}."""
    run(conf, "ingest", check=True)
    run(conf, "send", check=True)
    senders = envelope_senders(sink)
    assert senders, "nothing was sent"
    for rcpt, sender in senders.items():
        assert VERP_RE.match(sender), (rcpt, sender)
    # one token per reader: the envelope names the reader
    assert len(set(senders.values())) == len(senders)
    return senders


def later_send(tmp_path, conf, sink):
    """A new post for every tag, a slot later than the first send's, and a
    send: returns the recipients the sink got this time."""
    (tmp_path / "posts" / "z.md").write_text(
        "---\ntitle: \"Later news\"\ndate: 2026-11-29T10:00:00Z\n"
        "tags: [Sergey Lavrov, NATO, USA, North Korea, EU, Iran]\n"
        "url: https://news.test/p/z/\nauthor: Test Desk\n---\nLater.\n", encoding="utf-8")
    run(conf, "ingest", check=True)
    before = set(os.listdir(sink.dumps))
    # The first send had the site's slot (Monday 08:00 Berlin, at or
    # before now); a weekly slot two minutes ago in UTC is later than it
    # (but in the two minutes after a Monday's 08:00).
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2)
    p = run(conf, "-o", f"schedule.day={DAYS[t.weekday()]}",
            "-o", f"schedule.time={t:%H:%M}", "-o", "schedule.timezone=UTC", "send")
    assert p.returncode == 0, p.stderr.decode()
    got = set()
    for name in set(os.listdir(sink.dumps)) - before:
        raw = open(os.path.join(sink.dumps, name), "rb").read()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        got.update(a.strip("<>") for a in msg.get_all("X-Rcpt-Args", []))
    return got


def show(conf, addr):
    p = run(conf, "subscribers", "show", addr, "--json", check=True)
    return json.loads(p.stdout)


def bounces(conf, *args):
    p = run(conf, *args, "bounces", timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def maildir_files(box):
    return sorted(f"{sub}/{n}" for sub in ("new", "cur") for n in os.listdir(box / sub))


_seq = [0]


def deliver(box, msg, name=None):
    """Puts msg into the Maildir's new/ as a delivery agent would: written
    in tmp/, then renamed. The Maildir is read in name order: a test that
    needs an order names the files."""
    _seq[0] += 1
    name = name or f"{int(time.time())}.M{_seq[0]}P{os.getpid()}.test"
    raw = msg if isinstance(msg, bytes) else msg.as_bytes(policy=email.policy.SMTP)
    (box / "tmp" / name).write_bytes(raw)
    os.rename(box / "tmp" / name, box / "new" / name)
    return name


# ---- what comes back ----

def returned_headers(to, sender):
    """The header block of the digest as the DSN returns it."""
    return (f"Return-Path: <{sender}>\r\nFrom: digest@news.test\r\nTo: {to}\r\n"
            f"Subject: Your digest\r\nMessage-ID: <d.{abs(hash(to))}@news.test>\r\n")


def dsn(to_envelope, rcpt, status, action="failed", diag=None, mta="mx.example.net"):
    """An RFC 3464 report (BRIEF-2 §5): human part, delivery-status with
    the per-message and per-recipient groups, the returned headers."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{mta}>"
    report["To"] = to_envelope
    report["Subject"] = ("Delivery Status Notification (Delay)" if action == "delayed"
                         else "Undelivered Mail Returned to Sender")
    report["Auto-Submitted"] = "auto-replied"
    report.attach(MIMEText(f"This is the mail system at host {mta}.\n\n"
                           f"I'm sorry to have to inform you that your message could "
                           f"not be delivered to {rcpt}.\n"))
    ds = MIMEBase("message", "delivery-status")
    per_msg = Message()
    per_msg["Reporting-MTA"] = f"dns; {mta}"
    per_msg["Arrival-Date"] = "Mon, 30 Nov 2026 08:00:05 +0100"
    per_rcpt = Message()
    per_rcpt["Final-Recipient"] = f"rfc822; {rcpt}"
    per_rcpt["Original-Recipient"] = f"rfc822; {rcpt}"
    per_rcpt["Action"] = action
    per_rcpt["Status"] = status
    per_rcpt["Remote-MTA"] = f"dns; {mta}"
    if diag:
        per_rcpt["Diagnostic-Code"] = f"smtp; {diag}"
    ds.set_payload([per_msg, per_rcpt])
    report.attach(ds)
    head = MIMEBase("text", "rfc822-headers")
    head.set_payload(returned_headers(rcpt, to_envelope))
    report.attach(head)
    return report


def hard_dsn(sender, rcpt):
    return dsn(sender, rcpt, "5.1.1", diag="550 5.1.1 <%s>: Recipient address rejected: "
               "User unknown in local recipient table" % rcpt)


def soft_dsn(sender, rcpt):
    return dsn(sender, rcpt, "4.2.2", diag="452 4.2.2 <%s>: Mailbox full" % rcpt)


def delay_dsn(sender, rcpt):
    return dsn(sender, rcpt, "4.4.7", action="delayed",
               diag="421 4.4.7 Connection timed out; will keep trying")


def arf(sender, rcpt, feedback_type="abuse"):
    """An RFC 5965 feedback report: the reader pressed "spam"; the original
    message comes back whole, with the Return-Path its server added."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "feedback@fbl.example.com"
    report["To"] = "abuse@news.test"
    report["Subject"] = "Abuse report"
    report.attach(MIMEText("This is an email abuse report for an email message "
                           "received from IP 192.0.2.1.\n"))
    fb = MIMEBase("message", "feedback-report")
    fb.set_payload(f"Feedback-Type: {feedback_type}\r\nUser-Agent: SomeFBL/1.0\r\nVersion: 1\r\n"
                   f"Original-Mail-From: <{sender}>\r\nOriginal-Rcpt-To: <{rcpt}>\r\n"
                   "Arrival-Date: Mon, 30 Nov 2026 08:00:05 +0100\r\n")
    report.attach(fb)
    original = EmailMessage()
    original["Return-Path"] = f"<{sender}>"
    original["From"] = "digest@news.test"
    original["To"] = rcpt
    original["Subject"] = "Your digest"
    original.set_content("The digest.\n")
    part = MIMEBase("message", "rfc822")
    part.set_payload([original])
    report.attach(part)
    return report


def vacation(sender, rcpt):
    m = EmailMessage()
    m["From"] = rcpt
    m["To"] = sender
    m["Subject"] = "Out of office: Your digest"
    m["Auto-Submitted"] = "auto-replied"
    m["Message-ID"] = "<vac.1@example.net>"
    m.set_content("I am away until January and will read your mail then.\n")
    return m


def personal(sender):
    m = EmailMessage()
    m["From"] = "Someone <someone@example.net>"
    m["To"] = sender
    m["Subject"] = "Re: Your digest"
    m["Message-ID"] = "<re.1@example.net>"
    m.set_content("Thanks for the digest, I liked the part about Brussels.\n")
    return m


def forge(sender):
    """The VERP address with one character of its token changed."""
    local, domain = sender.split("@")
    token = local[len("bounces+"):]
    i = len(token) // 2
    c = "a" if token[i] != "a" else "b"
    return f"bounces+{token[:i]}{c}{token[i + 1:]}@{domain}"


# ---- the tests ----

def test_hard_bounce_suppresses_and_unsuppress_lifts(tmp_path, sink):
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    who = "juergen@example.org"
    deliver(box, hard_dsn(senders[who], who))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert "1 bounce," in out and "1 reader suppressed" in out, out
    assert re.search(r"hard 5\.1\.1 .*juergen@example\.org.*: suppressed", err), err
    s = show(conf, who)
    assert s["status"] == "bounced"
    ev = s["bounces"]["events"]
    assert len(ev) == 1 and ev[0]["kind"] == "hard" and ev[0]["status"] == "5.1.1"
    assert ev[0]["action"] == "suppressed" and ev[0]["digest_slot"]
    assert s["bounces"]["hard"] == 1
    assert maildir_files(box) == [], "a processed mail is still there"
    # the others are untouched
    assert show(conf, "zoe@example.net")["status"] == "active"
    # status shows it
    st = run(conf, "status", check=True).stdout.decode()
    assert re.search(r"last 30 days: 1 hard, 0 soft", st), st
    assert re.search(r"juergen@example\.org\s+hard\s+5\.1\.1\s+userunknown\s+suppressed", st), st

    got = later_send(tmp_path, conf, sink)
    assert who not in got, "a bounced reader was mailed again"
    assert "zoe@example.net" in got, got       # the send did go out

    p = run(conf, "unsuppress", who, check=True)
    assert "1 suppression lifted" in p.stdout.decode()
    s = show(conf, who)
    assert s["status"] == "active"
    assert s["bounces"]["hard"] == 0 and float(s["bounces"]["score"]) == 0
    assert len(s["bounces"]["events"]) == 1    # the history stays


def test_soft_bounces_score_under_and_over_the_threshold(tmp_path, sink):
    conf, box = bounce_site(tmp_path, sink, extra="soft_threshold = 2\n")
    senders = first_send(conf, sink)
    zoe, li = "zoe@example.net", "li@example.com"
    # a delay warning and the final soft failure of one digest: one bounce
    deliver(box, delay_dsn(senders[zoe], zoe))
    deliver(box, soft_dsn(senders[zoe], zoe))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    s = show(conf, zoe)
    assert s["status"] == "active", s
    assert 0.99 < float(s["bounces"]["score"]) <= 1.0
    actions = sorted(e["action"] for e in s["bounces"]["events"])
    assert actions == ["counted_before", "recorded"], s["bounces"]
    assert all(e["kind"] == "soft" for e in s["bounces"]["events"])
    assert maildir_files(box) == []
    st = run(conf, "status", check=True).stdout.decode()
    line = next(l for l in st.splitlines() if l.startswith("  zoe@example.net "))
    assert line.endswith("(bounce score 1.0 of 2, 0 hard)"), line
    # one soft bounce at a threshold of 1 is over it
    deliver(box, soft_dsn(senders[li], li))
    rc, out, err = bounces(conf, "-o", "bounces.soft_threshold=1")
    assert rc == 0, err
    s = show(conf, li)
    assert s["status"] == "bounced"
    assert [e["action"] for e in s["bounces"]["events"]] == ["suppressed"]
    got = later_send(tmp_path, conf, sink)
    assert li not in got and zoe in got, got


def test_complaint_unsubscribes_from_everything(tmp_path, sink):
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    li = "li@example.com"
    deliver(box, arf(senders[li], li))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert "1 complaint," in out and "1 unsubscribed" in out, out
    s = show(conf, li)
    assert s["status"] == "complained"
    ev = s["bounces"]["events"]
    assert len(ev) == 1 and ev[0]["kind"] == "complaint"
    assert ev[0]["feedback_type"] == "abuse" and ev[0]["action"] == "unsubscribed"
    assert any(u["scope"] == "all" and u["reason"] == "complained" for u in s["unsubscribes"])
    assert maildir_files(box) == []
    # a provider that redacts the reader's address: the token still names them
    zoe = "zoe@example.net"
    raw = arf(senders[zoe], zoe).as_bytes(policy=email.policy.SMTP)
    raw = raw.replace(f"Original-Rcpt-To: <{zoe}>\r\n".encode(), b"")
    raw = raw.replace(f"To: {zoe}".encode(), b"To: [redacted]")
    assert zoe.encode() not in raw
    deliver(box, raw)
    rc, out, err = bounces(conf)
    assert rc == 0 and "1 complaint," in out, out + err
    assert show(conf, zoe)["status"] == "complained"
    got = later_send(tmp_path, conf, sink)
    assert li not in got and zoe not in got and "juergen@example.org" in got, got


def test_forged_token_and_unknown_recipient_change_nothing(tmp_path, sink):
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    who = "juergen@example.org"
    deliver(box, hard_dsn(forge(senders[who]), who))
    # a bounce for a mail we never sent: no token at all
    deliver(box, hard_dsn("digest@news.test", "stranger@example.org"))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert "0 bounces," in out and "2 naming nobody we sent to (2 left in the mailbox)" \
        in out, out
    assert "0 readers suppressed" in out, out
    assert err.count("names nobody we sent to") == 2, err
    assert show(conf, who)["status"] == "active"
    assert show(conf, who)["bounces"]["events"] == []
    db = open_store(tmp_path, readonly=True)
    assert db.execute("SELECT outcome, events FROM bounce_mail").fetchall() == \
        [("unknown", 0), ("unknown", 0)]
    assert db.execute("SELECT COUNT(*) FROM suppressions").fetchone()[0] == 0
    db.close()


def test_unknown_bounce_stays_for_the_operator(tmp_path, sink):
    """A bounce nobody can be named for is left in the mailbox (without a
    processed_folder deleting it would hide it for good), counted again
    by later runs, recorded once; with a processed_folder it is moved."""
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    who = "juergen@example.org"
    names = {deliver(box, hard_dsn(forge(senders[who]), who)),
             deliver(box, hard_dsn("digest@news.test", "stranger@example.org"))}
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert "2 naming nobody we sent to (2 left in the mailbox)" in out, out
    assert err.count("left in the mailbox") == 2, err
    assert {n.split("/", 1)[1] for n in maildir_files(box)} == names
    # the next run sees them again: counted, not recorded twice, still there
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert "2 naming nobody we sent to (2 left in the mailbox)" in out, out
    assert "0 recorded before" in out, out
    assert {n.split("/", 1)[1] for n in maildir_files(box)} == names
    db = open_store(tmp_path, readonly=True)
    assert db.execute("SELECT outcome FROM bounce_mail").fetchall() == \
        [("unknown",), ("unknown",)]
    db.close()
    assert show(conf, who)["status"] == "active"
    # with a folder to put them in, they go there
    rc, out, err = bounces(conf, "-o", "bounces.processed_folder=Processed")
    assert rc == 0, err
    assert maildir_files(box) == []
    moved = os.listdir(box / ".Processed" / "cur")
    assert len(moved) == 2 and {m.split(":")[0] for m in moved} == names, moved


def test_max_messages_bounds_what_is_acted_on_not_what_is_read(tmp_path, sink):
    """Mails that stay (a person's reply, a bounce for nobody) do not use up
    max_messages: a hard bounce behind two replies is read in the first
    run; the bound still holds for the mails acted on."""
    conf, box = bounce_site(tmp_path, sink, extra="max_messages = 2\n")
    senders = first_send(conf, sink)
    juergen, zoe, li = "juergen@example.org", "zoe@example.net", "li@example.com"
    for i, name in enumerate(("1000.a.test", "1000.b.test")):
        m = personal(senders[juergen])
        m.replace_header("Message-ID", f"<re.{i}@example.net>")
        deliver(box, m, name)
    deliver(box, hard_dsn("digest@news.test", "stranger@example.org"), "1000.c.test")
    deliver(box, hard_dsn(senders[juergen], juergen), "1000.d.test")
    deliver(box, soft_dsn(senders[zoe], zoe), "1000.e.test")
    deliver(box, hard_dsn(senders[li], li), "1000.f.test")
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert show(conf, juergen)["status"] == "bounced", out + err
    # c (unknown, recorded) and d are the two acted on; e and f wait
    assert "4 mails read:" in out and "1 bounce," in out, out
    assert show(conf, zoe)["bounces"]["events"] == []
    assert show(conf, li)["status"] == "active"
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert show(conf, li)["status"] == "bounced", out + err
    assert [e["kind"] for e in show(conf, zoe)["bounces"]["events"]] == ["soft"]
    assert [f.split("/", 1)[1] for f in maildir_files(box)] == \
        ["1000.a.test", "1000.b.test", "1000.c.test"]


def test_token_only_in_quoted_body_text_names_nobody(tmp_path, sink):
    """A DSN for someone else's address that quotes the reader's return
    path in its text (a forger who kept a digest's headers) changes
    nothing: tokens are read only from the headers that carry them."""
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    who = "juergen@example.org"
    raw = hard_dsn("digest@news.test", "stranger@example.org").as_bytes(
        policy=email.policy.SMTP)
    assert b"This is the mail system" in raw
    raw = raw.replace(b"This is the mail system",
                      f"> Return-Path: <{senders[who]}>\r\n> To: {who}\r\n\r\n"
                      "This is the mail system".encode(), 1)
    deliver(box, raw)
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert "0 bounces," in out and "1 naming nobody" in out, out
    assert show(conf, who)["status"] == "active"
    assert show(conf, who)["bounces"]["events"] == []


def _leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _unleb(b, i):
    n = shift = 0
    while True:
        n |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not b[i - 1] & 0x80:
            return n, i


def reslot(secret, sender, email, slot):
    """The VERP address of sender remade for another digest slot, signed as
    verp.h specifies (what a forger with the secret, or an old digest,
    would carry)."""
    local, domain = sender.split("@")
    tok = local[len("bounces+"):]
    raw = base64.b32decode(tok.upper() + "=" * (-len(tok) % 8))
    kind = raw[:1]
    member, i = _unleb(raw, 1)
    body = kind + _leb(member) + _leb(slot // 60)
    mac = hmac.new(secret, b"verp\n" + body + email.lower().encode(),
                   hashlib.sha256).digest()[:10]
    new = base64.b32encode(body + mac).decode().lower().rstrip("=")
    return f"bounces+{new}@{domain}"


def test_a_digest_token_older_than_120_days_names_nobody(tmp_path, sink):
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    secret = secret_path(tmp_path).read_bytes().rstrip(b"\r\n ")
    now = int(time.time())
    juergen, zoe = "juergen@example.org", "zoe@example.net"
    # the remade token verifies: 100 days old is still the reader's
    deliver(box, hard_dsn(reslot(secret, senders[zoe], zoe, now - 100 * 86400), zoe))
    deliver(box, hard_dsn(reslot(secret, senders[juergen], juergen, now - 121 * 86400),
                          juergen))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert show(conf, zoe)["status"] == "bounced", out + err
    assert show(conf, juergen)["status"] == "active", out + err
    assert "1 bounce," in out and "1 naming nobody" in out, out
    assert "older than 120 days" in err, err


def test_hard_bounce_of_a_forward_counts_soft(tmp_path, sink):
    """The reader's server forwarded the digest and the forward target
    failed: the report names an address that is not the reader's, so it
    says nothing certain about the reader's own mailbox: soft."""
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    who = "juergen@example.org"
    deliver(box, hard_dsn(senders[who], "old.juergen@forward.example"))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    s = show(conf, who)
    assert s["status"] == "active", s
    ev = s["bounces"]["events"]
    assert len(ev) == 1 and ev[0]["kind"] == "soft" and ev[0]["status"] == "5.1.1", ev
    # the reader's own address failing hard still suppresses, also when a
    # forward target's failure is listed before it
    deliver(box, hard_dsn(senders["zoe@example.net"], "zoe@example.net"))
    li = "li@example.com"
    both = hard_dsn(senders[li], "li.old@forward.example")
    own = Message()
    own["Final-Recipient"] = f"rfc822; {li}"
    own["Action"] = "failed"
    own["Status"] = "5.1.1"
    own["Diagnostic-Code"] = "smtp; 550 5.1.1 User unknown"
    both.get_payload()[1].get_payload().append(own)
    deliver(box, both)
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert show(conf, "zoe@example.net")["status"] == "bounced"
    ev = show(conf, li)["bounces"]["events"]
    assert [(e["kind"], e["action"]) for e in ev] == [("hard", "suppressed")], ev


def test_only_abuse_fraud_opt_out_complain(tmp_path, sink):
    """Feedback-Type other (or virus, not-spam, auth-failure) is a note,
    not the reader's complaint; an opt-out is one only with a valid
    token (Apple Mail's unsubscribe header is anybody's to write)."""
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    li, zoe = "li@example.com", "zoe@example.net"
    deliver(box, arf(senders[li], li, "other"))
    deliver(box, arf(senders[zoe], zoe, "virus"))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert "0 complaints, 2 notes" in out, out
    for who, t in ((li, "other"), (zoe, "virus")):
        s = show(conf, who)
        assert s["status"] == "active", s
        ev = s["bounces"]["events"]
        assert len(ev) == 1 and ev[0]["kind"] == "note" and ev[0]["feedback_type"] == t, ev
    deliver(box, arf(senders[li], li, "opt-out"))
    rc, out, err = bounces(conf)
    assert rc == 0 and "1 complaint," in out, out + err
    assert show(conf, li)["status"] == "complained"


def test_opt_out_without_a_token_is_a_note(tmp_path, sink):
    conf, box = bounce_site(tmp_path, sink, verp=False)
    run(conf, "ingest", check=True)
    run(conf, "send", check=True)
    li, zoe = "li@example.com", "zoe@example.net"
    # what anybody can send with the reader's From
    apple = EmailMessage()
    apple["From"] = li
    apple["To"] = "digest@news.test"
    apple["Subject"] = "Unsubscribe"
    apple["X-Apple-Unsubscribe"] = "true"
    apple.set_content("This person has unsubscribed.\n")
    deliver(box, apple)
    deliver(box, arf("digest@news.test", zoe, "abuse"))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    s = show(conf, li)
    assert s["status"] == "active", (s, out, err)
    assert [e["kind"] for e in s["bounces"]["events"]] == ["note"], s["bounces"]
    # an abuse report is the reader's own button: it still counts
    assert show(conf, zoe)["status"] == "complained"


def test_null_mx_and_not_found_statuses_are_hard(tmp_path, sink):
    """Exchange Online's 5.1.10 RecipientNotFound is "filtered" (not hard)
    for Sisimai and in the JSON, but the address does not exist: the
    policy suppresses on 5.1.1, 5.1.2, 5.1.6 and 5.1.10."""
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    who = "juergen@example.org"
    m = dsn(senders[who], who, "5.1.10", diag="550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
            "Recipient not found by SMTP address lookup")
    path = tmp_path / "dsn.eml"
    path.write_bytes(m.as_bytes(policy=email.policy.SMTP))
    p = subprocess.run([BIN, "bounce-dump", str(path)], capture_output=True, check=True)
    rcpt = json.loads(p.stdout)["recipients"][0]
    assert rcpt["status"] == "5.1.10" and rcpt["hard"] is False, rcpt
    deliver(box, m)
    rc, out, err = bounces(conf)
    assert rc == 0, err
    s = show(conf, who)
    assert s["status"] == "bounced", (s, err)
    assert s["bounces"]["events"][0]["kind"] == "hard"


def test_without_verp_the_failed_address_names_the_reader(tmp_path, sink):
    conf, box = bounce_site(tmp_path, sink, verp=False)
    run(conf, "ingest", check=True)
    run(conf, "send", check=True)
    senders = envelope_senders(sink)
    assert set(senders.values()) == {"digest@news.test"}   # no VERP: as before
    # the server's words are kept, but not a megabyte of them, and never
    # half a character (an RFC 6533 report may carry UTF-8)
    raw = dsn("digest@news.test", "Zoe@Example.net", "5.1.1",
              diag="550 5.1.1 User unknown:: WORDS").as_bytes(policy=email.policy.SMTP)
    deliver(box, raw.replace(b"WORDS", "é".encode() * 2000))
    stranger = deliver(box, hard_dsn("digest@news.test", "stranger@example.org"))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert "1 bounce," in out and "1 naming nobody" in out, out
    s = show(conf, "zoe@example.net")
    assert s["status"] == "bounced"
    detail = s["bounces"]["events"][0]["detail"]
    assert detail.startswith("550 5.1.1 User unknown:: é")
    assert len(detail.encode()) <= 300 and detail.endswith("é"), len(detail.encode())
    assert maildir_files(box) == [f"new/{stranger}"]    # the unknown one stays


def test_vacation_is_recorded_only_and_a_personal_reply_stays(tmp_path, sink):
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    zoe = "zoe@example.net"
    deliver(box, vacation(senders[zoe], zoe))
    kept = deliver(box, personal(senders[zoe]))
    # a "not spam" report is the opposite of a complaint
    deliver(box, arf(senders[zoe], zoe, "not-spam"))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    assert "0 complaints, 2 notes," in out and "1 not a bounce" in out, out
    s = show(conf, zoe)
    assert s["status"] == "active"
    assert sorted((e["kind"], e["reason"], e["action"]) for e in s["bounces"]["events"]) == \
        [("note", "feedback", "recorded"), ("note", "vacation", "recorded")]
    assert float(s["bounces"]["score"]) == 0
    # the person's reply is left where it was, for a person to read
    assert maildir_files(box) == [f"new/{kept}"]
    rc, out, _ = bounces(conf)
    assert rc == 0 and "1 mail read" in out and "1 not a bounce" in out, out


def test_dry_run_records_and_removes_nothing(tmp_path, sink):
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    who = "juergen@example.org"
    deliver(box, hard_dsn(senders[who], who))
    p = run(conf, "bounces", "--dry-run")
    assert p.returncode == 0, p.stderr
    out, err = p.stdout.decode(), p.stderr.decode()
    assert "bounces --dry-run: 1 mail read: 1 bounce," in out, out
    assert "nothing recorded or removed" in out, out
    assert "would be recorded" in err, err
    assert show(conf, who)["status"] == "active"
    assert len(maildir_files(box)) == 1
    rc, out, err = bounces(conf)
    assert rc == 0 and show(conf, who)["status"] == "bounced", out + err


def test_run_reads_bounces_before_sending(tmp_path, sink):
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    who = "juergen@example.org"
    deliver(box, hard_dsn(senders[who], who))
    p = run(conf, "run")
    assert p.returncode == 0, p.stderr
    assert show(conf, who)["status"] == "bounced"
    assert maildir_files(box) == []
    # `bounces` without a mailbox to read is a configuration error
    plain = write_site(tmp_path / "plain", "maildir")
    p = run(plain, "bounces")
    assert p.returncode == 78 and "[bounces] mailbox is not set" in p.stderr.decode(), p
    # a mailbox that cannot be read is reported, and the send goes on
    p = run(conf, "-o", f"bounces.mailbox=maildir:{tmp_path / 'nowhere'}", "run")
    assert p.returncode == 0, p.stderr
    assert "bounce mailbox was not read" in p.stderr.decode()
    assert "nowhere" in p.stderr.decode()


def test_the_desk_shows_what_came_back(tmp_path, sink):
    from test_serve import Server, html_text
    conf, box = bounce_site(tmp_path, sink)
    senders = first_send(conf, sink)
    zoe, juergen = "zoe@example.net", "juergen@example.org"
    deliver(box, soft_dsn(senders[zoe], zoe))
    deliver(box, hard_dsn(senders[juergen], juergen))
    rc, out, err = bounces(conf)
    assert rc == 0, err
    s = Server(conf)
    try:
        st, _, body = s.get("/preview?to=zoe%40example.net")
        page = html_text(body)
        assert st == 200, page
        assert "Bounce score 1.0 of 5; 0 hard bounces" in page, page
        # one hard bounce is "1 hard bounce" on the reader's page
        st, _, body = s.get("/reader?email=juergen%40example.org")
        assert st == 200 and re.search(r"; 1 hard bounce</dd>", html_text(body)), body
        assert re.search(r"soft 4\.2\.2 mailboxfull\s+\S+\s+recorded", page), page
        st, _, body = s.get("/preview?to=juergen%40example.org")
        page = html_text(body)
        assert st == 409, page
        assert "juergen@example.org is bounced" in page
        assert "what came back: hard 5.1.1 userunknown on" in page, page
        # a reader nothing came back for has no such section
        st, _, body = s.get("/preview?to=li%40example.com")
        assert st == 200 and 'id="bounces"' not in body.decode()
    finally:
        assert s.stop() == 0, s.output()


# ---- killed mid-way ----

KILLS = int(os.environ.get("TD_BOUNCE_KILLS", "20"))
READERS = 300
STALL_EVERY = 4
STALL = 0.3          # seconds the store stays locked before the kill (busy wait: 5 s)


def kind_for(i):
    """What comes back for the i-th generated reader."""
    return "soft" if i % 10 == 0 else "complaint" if i % 10 == 1 else "hard"


def test_sigkill_counts_every_mail_once(tmp_path, request):
    rows = "".join(f"kill{i:04d}@example.org,Kill {i},usa\n" for i in range(READERS))
    sink = Sink()
    try:
        conf = write_site(tmp_path, "smtp", sink.url, extra_rows=rows)
        box = tmp_path / "bounces"
        for sub in ("new", "cur", "tmp"):
            (box / sub).mkdir(parents=True)
        with open(conf, "a", encoding="utf-8") as f:
            f.write(f"[bounces]\nreturn_path = {RETURN_PATH}\nmailbox = maildir:{box}\n")
        run(conf, "ingest", check=True)
        run(conf, "-o", "transport.connections=2", "send", check=True, timeout=300)
        senders = envelope_senders(sink)
    finally:
        sink.stop()
    readers = [f"kill{i:04d}@example.org" for i in range(READERS)]
    build = {"soft": soft_dsn, "complaint": arf, "hard": hard_dsn}
    mails = {}                      # name -> bytes, of the mails that count
    for i, who in enumerate(readers):
        raw = build[kind_for(i)](senders[who], who).as_bytes(policy=email.policy.SMTP)
        mails[deliver(box, raw)] = raw
    unknown = 10
    keep = set()                    # not bounces, or for nobody: must stay
    for i in range(unknown):
        raw = hard_dsn(forge(senders[readers[i]]), readers[i]).as_bytes(
            policy=email.policy.SMTP)
        keep.add(deliver(box, raw))
    personal_replies = 20
    for i in range(personal_replies):
        m = personal(senders[readers[i]])
        m.replace_header("Message-ID", f"<re.{i}@example.net>")
        keep.add(deliver(box, m))

    rnd = random.Random(int(os.environ.get("TD_CRASH_SEED", "5")))
    kills = mid_run = stalled = put_back = 0
    deadline = time.monotonic() + 120 + KILLS * 5
    left = len(maildir_files(box))
    while mid_run < KILLS and kills < KILLS * 3 and time.monotonic() < deadline:
        proc = subprocess.Popen([BIN, "-q", "-c", str(conf), "bounces"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # once it is removing mails (a loaded machine takes a while to get
        # there), at a random point after that
        until = time.monotonic() + 20
        while (len(maildir_files(box)) >= left and proc.poll() is None
               and time.monotonic() < until):
            time.sleep(0.005)
        # a short random delay: a run gets through the 300 mails in a
        # second or two, and a longer one let whole runs finish before
        # KILLS of them had landed mid-run
        time.sleep(rnd.uniform(0, 0.03))
        if proc.poll() is not None:
            break                   # it finished: nothing left to kill
        # every STALL_EVERY-th kill: the record waits, a mail is fetched
        stall = kills % STALL_EVERY == STALL_EVERY - 1
        kill(proc, tmp_path if stall else None, STALL)
        stalled += stall
        kills += 1
        now = len(maildir_files(box))
        if now < left:
            mid_run += 1            # it was removing mails when it died
        # a removal that never happened: a processed mail comes back
        if kills % 3 == 0:
            gone = sorted(set(mails) - {n.split("/", 1)[1] for n in maildir_files(box)})
            if gone:
                name = rnd.choice(gone)
                deliver(box, mails[name])
                put_back += 1
                now += 1
        left = now
    # then to the end
    p = run(conf, "bounces", timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    last = p.stdout.decode()

    db = open_store(tmp_path, readonly=True)
    processed = db.execute("SELECT outcome, COUNT(*) FROM bounce_mail GROUP BY outcome"
                           ).fetchall()
    per_reader = dict(db.execute("SELECT email, COUNT(*) FROM bounce_events GROUP BY email"
                                 ).fetchall())
    kinds = dict(db.execute("SELECT email, kind FROM bounce_events").fetchall())
    statuses = dict(db.execute("SELECT email_key, status FROM members").fetchall())
    db.close()
    tally = (f"bounces kill test: {kills} SIGKILLs ({mid_run} mid-run, {stalled} with the "
             f"store locked), {len(mails)} mails that count + {len(keep)} that stay (not "
             f"bounces or for nobody), {put_back} processed mails put back; last run: {last.strip()}")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.write_line(tally)

    assert mid_run >= KILLS, tally
    assert stalled, tally
    # every mail counted exactly once
    assert dict(processed) == {"bounce": READERS - READERS // 10, "complaint": READERS // 10,
                               "unknown": unknown}, processed
    assert set(per_reader) == set(readers), "a reader's bounce is missing"
    assert set(per_reader.values()) == {1}, \
        {k: v for k, v in per_reader.items() if v != 1}
    want = {"soft": "active", "complaint": "complained", "hard": "bounced"}
    for i, who in enumerate(readers):
        assert kinds[who] == kind_for(i), who
        assert statuses[who] == want[kind_for(i)], who
    # every processed mail removed, the others left
    assert {n.split("/", 1)[1] for n in maildir_files(box)} == keep

    # every one of them again, as if no removal had ever committed: each
    # is recognised, removed, and counts nothing
    for raw in mails.values():
        deliver(box, raw)
    p = run(conf, "bounces", timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    assert (f"{len(mails) + len(keep)} mails read: 0 bounces, 0 complaints, 0 notes, "
            f"{unknown} naming nobody we sent to ({unknown} left in the mailbox), "
            f"{personal_replies} not a bounce (left in the mailbox), "
            f"{len(mails)} recorded before; 0 readers suppressed") in p.stdout.decode(), \
        p.stdout.decode()
    assert {n.split("/", 1)[1] for n in maildir_files(box)} == keep
    db = open_store(tmp_path, readonly=True)
    assert db.execute("SELECT COUNT(*) FROM bounce_events").fetchone()[0] == READERS
    db.close()

"""`tagdigest bounces` against a real Dovecot (tests/e2e/dovecot.py) and a
local Maildir: DSNs built here with Python's email package are delivered
into the mailbox, read over IMAPS, IMAP+STARTTLS, POP3S and POP3+STLS,
recorded in the store (read back through `subscribers show`), and only
then removed or moved (checked with Python's imaplib, not with tagdigest).
A mail that is no bounce stays. A wrong password, a certificate from
another CA, a server without STARTTLS and a connection cut mid-fetch each
end the run with their exit code, and lose or double nothing.
"""
import contextlib
import email
import email.policy
import email.utils
import json
import os
import re
import socket
import subprocess
import threading
import time
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from conftest import BIN, run, write_site
from dovecot import PASSWORD, USER, CuttingProxy, Dovecot
from test_serve import ENV

PW_ENV = "TD_TEST_BOUNCE_PW"
HARD = "gone@example.org"       # 5.1.1: suppressed at once
SOFT = "full@example.org"       # 4.2.2: scores 1 of 5, stays active
OTHERS = ["a1@example.org", "a2@example.org", "a3@example.org"]


# ---- the mails ----------------------------------------------------------

def dsn(rcpt, status="5.1.1", action="failed",
        diag="550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
        pad=0, attached=0):
    """An RFC 3464 report for rcpt, as BRIEF-2 §5 builds one; pad adds
    that many bytes of transcript to the human-readable part, attached a
    last part of that many bytes (the returned mail's attachment, after
    everything a parser needs)."""
    msg = MIMEMultipart("report", report_type="delivery-status")
    msg["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.net>"
    msg["To"] = "digest@news.test"
    msg["Subject"] = "Undelivered Mail Returned to Sender"
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = email.utils.make_msgid(domain="mx.example.net")
    text = ("This is the mail system at host mx.example.net.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n")
    line = "Transcript: the remote server answered at length.\n"
    text += line * (pad // len(line))
    msg.attach(MIMEText(text))
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.net"
    per_message["Arrival-Date"] = email.utils.formatdate()
    per_rcpt = Message()
    per_rcpt["Final-Recipient"] = f"rfc822; {rcpt}"
    per_rcpt["Action"] = action
    per_rcpt["Status"] = status
    per_rcpt["Diagnostic-Code"] = "smtp; " + diag.format(rcpt=rcpt)
    report = MIMEBase("message", "delivery-status")
    report.set_payload([per_message, per_rcpt])
    msg.attach(report)
    returned = MIMEText(f"From: digest@news.test\nTo: {rcpt}\n"
                        "Subject: Your weekly digest\n", "rfc822-headers")
    msg.attach(returned)
    if attached:
        line = "The returned mail's attachment, line after line after line.\n"
        msg.attach(MIMEText(line * (attached // len(line) + 1)))
    raw = msg.as_bytes(policy=email.policy.SMTP)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert not [p.defects for p in parsed.walk() if p.defects]
    return raw


def soft_dsn(rcpt):
    return dsn(rcpt, status="4.2.2", action="delayed",
               diag="452 4.2.2 <{rcpt}>: Mailbox full")


def reply():
    """A reader's reply: no bounce, no report, left where it is."""
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "Reader <reader@example.com>"
    msg["To"] = "digest@news.test"
    msg["Subject"] = "Re: Your weekly digest"
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = email.utils.make_msgid(domain="example.com")
    msg.set_content("Thanks, the piece on Pyongyang was good.\n")
    return msg.as_bytes()


def subjects(mails):
    return sorted(email.message_from_bytes(m, policy=email.policy.default)["Subject"]
                  for m in mails)


# ---- the site -----------------------------------------------------------

@pytest.fixture
def dovecot():
    with Dovecot() as d:
        yield d


def make_site(tmp_path, spec, ca=None, folder=None, readers=(HARD, SOFT), timeout=5):
    conf = write_site(tmp_path, "maildir")
    with open(conf, "a", encoding="utf-8") as f:
        f.write("[bounces]\n"
                f"mailbox = {spec}\n"
                f"password_env = {PW_ENV}\n"
                f"timeout = {timeout}\n"
                + (f"ca_file = {ca}\n" if ca else "")
                + (f"processed_folder = {folder}\n" if folder else ""))
    for addr in readers:
        p = run(conf, "subscribers", "add", addr, "--tags", "usa", env=ENV)
        assert p.returncode == 0, p.stderr.decode()
    return conf


def bounces(conf, password=PASSWORD, timeout=60, *args):
    return run(conf, "bounces", *args, env={**ENV, PW_ENV: password}, timeout=timeout)


def bounces_rss(conf):
    """`tagdigest bounces` under /usr/bin/time -v: (the run, its maximum
    resident set size in bytes)."""
    p = subprocess.run(["/usr/bin/time", "-v", BIN, "-c", str(conf), "bounces"],
                       capture_output=True, timeout=120,
                       env={**os.environ, **ENV, PW_ENV: PASSWORD})
    kb = re.search(rb"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    assert kb, p.stderr.decode()
    return p, int(kb.group(1)) * 1024


def show(conf, addr):
    p = run(conf, "subscribers", "show", addr, "--json", env=ENV, check=True)
    return json.loads(p.stdout.decode())


def events(conf, addr):
    """(kind, status) of each bounce event the store holds for addr."""
    return [(e["kind"], e["status"]) for e in show(conf, addr)["bounces"]["events"]]


def summary(p):
    """The numbers of the summary line on stdout, by what they count
    (in the singular: "mail read", "bounce", "recorded before", ...)."""
    line = p.stdout.decode().strip().splitlines()[-1]
    return {re.sub(r"(mail|bounce|reader)s\b", r"\1", k): int(n) for n, k in re.findall(
        r"(\d+) (mails? read|bounces?|not a bounce|recorded before|readers? suppressed|failed)",
        line)}


def spec_of(d, scheme):
    port = {"imaps": d.imaps, "imap": d.imap, "pop3s": d.pop3s, "pop3": d.pop3}[scheme]
    # "localhost" for the STARTTLS ones: the certificate's DNS name and
    # SNI; the IP SAN for the others.
    host = "localhost" if scheme in ("imap", "pop3") else "127.0.0.1"
    return f"{scheme}://{USER}@{host}:{port}"


def logins(d):
    """Dovecot's successful logins, each with whether it was over TLS."""
    return re.findall(r"-login: Info: Login: user=<[^>]*>.*", d.log())


# ---- reading, recording, removing ---------------------------------------

@pytest.mark.parametrize("scheme,folder", [
    ("imaps", "Processed"),   # MOVE into a folder the run creates
    ("imap", None),           # STARTTLS; \Deleted + EXPUNGE
    ("pop3s", None),          # DELE, committed by QUIT
    ("pop3", None),           # STLS
])
def test_bounces_are_recorded_then_removed(tmp_path, dovecot, scheme, folder):
    d = dovecot
    conf = make_site(tmp_path, spec_of(d, scheme), ca=d.ca[0], folder=folder)
    d.deliver(dsn(HARD))
    d.deliver(soft_dsn(SOFT))
    d.deliver(reply())
    assert d.imap_folder("Processed") is None

    p = bounces(conf)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == 0, out + err
    # recorded: the hard bounce suppressed its reader, the soft one did not
    assert show(conf, HARD)["status"] == "bounced"
    assert show(conf, SOFT)["status"] == "active"
    assert events(conf, HARD) == [("hard", "5.1.1")]
    assert events(conf, SOFT) == [("soft", "4.2.2")]
    n = summary(p)
    assert (n["mail read"], n["bounce"], n["not a bounce"], n["failed"]) == (3, 2, 1, 0), out
    # the reply stays, alone; the bounces went (or moved)
    assert subjects(d.imap_folder("INBOX")) == ["Re: Your weekly digest"]
    if folder:
        moved = d.imap_folder(folder)
        assert moved is not None and len(moved) == 2
        assert subjects(moved) == ["Undelivered Mail Returned to Sender"] * 2
    else:
        assert d.imap_folder("Processed") is None
    # the password went over TLS only (Dovecot logs "TLS" or "secured")
    assert logins(d) and all(re.search(r"\bTLS\b", line) for line in logins(d)), logins(d)

    # a second run finds only the reply: nothing recorded twice
    p = bounces(conf)
    assert p.returncode == 0, p.stderr.decode()
    n = summary(p)
    assert (n["mail read"], n["bounce"], n["not a bounce"]) == (1, 0, 1), p.stdout
    assert events(conf, HARD) == [("hard", "5.1.1")]
    assert events(conf, SOFT) == [("soft", "4.2.2")]
    assert subjects(d.imap_folder("INBOX")) == ["Re: Your weekly digest"]


def test_local_maildir_moves_into_maildir_plus_folder(tmp_path):
    md = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "new" / "1000.M1.test").write_bytes(dsn(HARD))
    (md / "new" / "1001.M2.test").write_bytes(reply())
    (md / "cur" / "0999.M0.test:2,S").write_bytes(soft_dsn(SOFT))
    conf = make_site(tmp_path / "site", f"maildir:{md}", folder="Processed")
    p = run(conf, "bounces", env=ENV)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    assert show(conf, HARD)["status"] == "bounced"
    assert events(conf, SOFT) == [("soft", "4.2.2")]
    assert sorted(f.name for f in (md / "new").iterdir()) == ["1001.M2.test"]
    assert list((md / "cur").iterdir()) == []
    assert sorted(f.name for f in (md / ".Processed" / "cur").iterdir()) == [
        "0999.M0.test:2,S", "1000.M1.test:2,"]
    assert (md / ".Processed" / "maildirfolder").exists()


# ---- reading only, and mails too big to hold ------------------------------

@pytest.mark.parametrize("scheme,folder", [("imaps", "Processed"), ("pop3s", None)])
def test_dry_run_writes_nothing_on_the_server(tmp_path, dovecot, scheme, folder):
    """`bounces --dry-run` reads and changes nothing on the server: over
    IMAP no processed_folder is created and the mail keeps \\Recent
    (EXAMINE, not SELECT) and stays unseen; over POP3 (no DELE, no QUIT)
    it stays, unseen."""
    d = dovecot
    conf = make_site(tmp_path, spec_of(d, scheme), ca=d.ca[0], folder=folder)
    d.deliver(dsn(HARD))
    p = bounces(conf, PASSWORD, 60, "--dry-run")
    out, err = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == 0, out + err
    n = summary(p)
    assert (n["mail read"], n["bounce"], n["failed"]) == (1, 1, 0), out
    assert show(conf, HARD)["status"] == "active"
    names, recent, flags = d.imap_state()
    assert names == ["INBOX"], names
    assert len(flags) == 1 and b"\\Seen" not in flags[0], flags
    if scheme == "imaps":
        assert (recent, flags) == (1, [{b"\\Recent"}])
    # and the real run after it still finds the mail
    p = bounces(conf)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    assert show(conf, HARD)["status"] == "bounced"


BIG = 20 << 20
CAPPED = 5 << 20   # over TD_MAILBOX_FETCH_MAX (4 MiB + 64 KiB) too


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_20_mb_mail_is_not_held_in_memory(tmp_path, dovecot, scheme):
    """A 20 MB bounce (its DSN first, then a big returned attachment)
    next to a small one. IMAP fetches only the first TD_MAILBOX_FETCH_MAX
    bytes, enough for the report: both are recorded. POP3 cannot fetch a
    part: the big one is not fetched and stays, named "too large"; the
    small one is recorded. Either way the run's peak memory
    (/usr/bin/time -v) is that of a run on a 5 MB mail, which is cut at
    the same place: not 15 MB more (a sanitizer build's baseline alone is
    larger than the mail, so the growth is what is measured)."""
    d = dovecot
    small = OTHERS[0]
    conf = make_site(tmp_path, spec_of(d, scheme), ca=d.ca[0],
                     readers=(HARD, SOFT, small))
    capped = dsn(SOFT, attached=CAPPED)
    d.deliver(capped)
    p, capped_rss = bounces_rss(conf)
    out, err = p.stdout.decode(), p.stderr.decode()
    if scheme == "imaps":
        assert p.returncode == 0, out + err
        assert events(conf, SOFT) == [("hard", "5.1.1")]

    big = dsn(HARD, attached=BIG)
    assert len(big) > BIG
    d.deliver(big)
    d.deliver(dsn(small))
    p, rss = bounces_rss(conf)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert rss - capped_rss < BIG // 4, (capped_rss, rss)
    assert events(conf, small) == [("hard", "5.1.1")]
    n = summary(p)
    if scheme == "imaps":
        assert p.returncode == 0, out + err
        assert (n["mail read"], n["bounce"], n["failed"]) == (2, 2, 0), out
        assert events(conf, HARD) == [("hard", "5.1.1")]
        assert d.imap_folder("INBOX") == []
    else:
        assert "too large" in err and "left in place" in err, err
        assert events(conf, HARD) == [] and events(conf, SOFT) == []
        assert sorted(len(m) for m in d.imap_folder("INBOX")) == [len(capped), len(big)]
        # too large for POP3 (no partial RETR): left in place like a
        # mail that is not a bounce, so the run does not fail for it
        assert (n["mail read"], n["bounce"], n["failed"]) == (1, 1, 0), out
        assert p.returncode == 0, out + err


# ---- refusals -----------------------------------------------------------

@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_wrong_password_exits_78_and_touches_nothing(tmp_path, dovecot, scheme):
    d = dovecot
    conf = make_site(tmp_path, spec_of(d, scheme), ca=d.ca[0])
    d.deliver(dsn(HARD))
    p = bounces(conf, password="not-the-password")
    err = p.stderr.decode()
    assert p.returncode == 78, err
    assert "login refused" in err and USER in err and "password_env" in err, err
    assert "not-the-password" not in err + p.stdout.decode()
    assert show(conf, HARD)["status"] == "active"
    # (the files, not imaplib: after a failed login Dovecot delays the
    # next one from the same address by seconds)
    assert len(d.files()) == 1


@pytest.mark.parametrize("scheme", ["imaps", "imap", "pop3s", "pop3"])
def test_certificate_from_another_ca_exits_69_before_login(tmp_path, dovecot, scheme):
    d = dovecot
    conf = make_site(tmp_path, spec_of(d, scheme), ca=d.other_ca[0])
    d.deliver(dsn(HARD))
    p = bounces(conf)
    err = p.stderr.decode()
    assert p.returncode == 69, err
    assert "certificate" in err and "does not verify" in err, err
    assert str(d.other_ca[0]) in err
    log = d.log()
    # the connection ended before any login attempt
    assert "Login: user=" not in log and "auth failed" not in log, log
    assert re.search(r"no auth attempts", log), log
    assert show(conf, HARD)["status"] == "active"


def test_certificate_for_another_name_exits_69(tmp_path):
    """The right CA, but a certificate for mail.example.org only: the host
    name check (here an IP address against the IP SANs) refuses it."""
    with Dovecot(sans="DNS:mail.example.org") as d:
        conf = make_site(tmp_path, spec_of(d, "imaps"), ca=d.ca[0])
        d.deliver(dsn(HARD))
        p = bounces(conf)
        err = p.stderr.decode()
        assert p.returncode == 69, err
        assert "does not verify for 127.0.0.1" in err, err
        assert "Login: user=" not in d.log()


@pytest.mark.parametrize("scheme", ["imaps", "imap", "pop3s", "pop3"])
def test_sni_names_the_host(tmp_path, scheme):
    """Dovecot shows the certificate our CA signed only to a client that
    sends SNI "localhost" (any other gets one from the other CA): the run
    succeeds only if the name is sent, on TLS and after STARTTLS / STLS."""
    with Dovecot(sni_only="localhost") as d:
        port = getattr(d, scheme)
        conf = make_site(tmp_path, f"{scheme}://{USER}@localhost:{port}", ca=d.ca[0])
        d.deliver(dsn(HARD))
        p = bounces(conf)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
        assert events(conf, HARD) == [("hard", "5.1.1")]


@contextlib.contextmanager
def plaintext_server(greeting, answer):
    """A one-connection server on a free loopback port that speaks plain
    text only: it sends greeting, then answers each line it hears with
    answer(line) (None ends the session). Yields (port, the lines
    heard); stopped at exit."""
    heard = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(10)

    def serve():
        try:
            c, _ = srv.accept()
        except OSError:
            return
        with c:
            c.settimeout(10)
            c.sendall(greeting)
            f = c.makefile("rb")
            for _ in range(10):
                line = f.readline()
                if not line:
                    return
                heard.append(line)
                said = answer(line)
                if said is None:
                    return
                c.sendall(said)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1], heard
    finally:
        srv.close()
        t.join(timeout=10)


def imap_answer(line):
    tag = line.split(b" ", 1)[0]
    if b"STARTTLS" in line.upper():
        return tag + b" BAD STARTTLS not supported\r\n"
    if b"LOGOUT" in line.upper():
        return None
    return tag + b" OK done\r\n"


def pop3_answer(line):
    if line.upper().startswith((b"STLS", b"USER", b"PASS")):
        return b"-ERR not here\r\n"
    if line.upper().startswith(b"QUIT"):
        return None
    if line.upper().startswith(b"CAPA"):
        return b"+OK\r\nUSER\r\nUIDL\r\n.\r\n"
    return b"-ERR unknown command\r\n"


@pytest.mark.parametrize("scheme,greeting,answer,word", [
    ("imap", b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] plain only\r\n", imap_answer,
     b"STARTTLS"),
    ("pop3", b"+OK plain only\r\n", pop3_answer, b"STLS"),
])
def test_server_without_starttls_gets_no_password(tmp_path, scheme, greeting, answer, word):
    """A server that offers no STARTTLS (IMAP) or STLS (POP3): the run
    stops with 69 and the password never crosses the wire (no plaintext
    fallback)."""
    with plaintext_server(greeting, answer) as (port, heard):
        conf = make_site(tmp_path, f"{scheme}://{USER}@127.0.0.1:{port}")
        p = bounces(conf)
    err = p.stderr.decode()
    assert p.returncode == 69, err
    assert word.decode() in err and "never sent in the clear" in err, err
    assert any(line.upper().startswith(word) or b" " + word in line.upper()
               for line in heard), heard
    assert not any(re.match(rb"(\S+ )?(LOGIN|AUTHENTICATE|USER|PASS|APOP)\b", line.upper())
                   or PASSWORD.encode() in line for line in heard), heard


# ---- a connection cut mid-fetch ------------------------------------------

@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_connection_cut_mid_fetch_loses_and_doubles_nothing(tmp_path, dovecot, scheme):
    d = dovecot
    mails = [dsn(addr, pad=120_000) for addr in OTHERS]
    for m in mails:
        d.deliver(m)
    # The cut lands in the middle of the second mail: the first whole
    # (plus greeting, TLS and listing, well under 20 kB), half the second.
    cut = len(mails[0]) + len(mails[1]) // 2 + 20_000
    with CuttingProxy(getattr(d, scheme), cut) as proxy:
        conf = make_site(tmp_path, f"{scheme}://{USER}@127.0.0.1:{proxy.port}",
                         ca=d.ca[0], readers=OTHERS)
        p = bounces(conf)
        assert proxy.cuts == 1
    err = p.stderr.decode()
    assert p.returncode == 75, p.stdout.decode() + err
    assert "connection lost" in err, err
    # the first mail was recorded; the others were not reached
    assert [show(conf, a)["status"] for a in OTHERS] == ["bounced", "active", "active"]
    assert [events(conf, a) for a in OTHERS] == [[("hard", "5.1.1")], [], []]
    # nothing was removed for good: the removal of the first did not commit
    assert len(d.imap_folder("INBOX")) == 3

    # the same mailbox without the proxy: all three recorded, each once
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text.replace(f"127.0.0.1:{proxy.port}",
                             f"127.0.0.1:{getattr(d, scheme)}"))
    p = bounces(conf)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    assert [show(conf, a)["status"] for a in OTHERS] == ["bounced"] * 3
    # the first is known by its key and only removed: one event each
    assert summary(p)["recorded before"] == 1, p.stdout
    assert [events(conf, a) for a in OTHERS] == [[("hard", "5.1.1")]] * 3
    assert d.imap_folder("INBOX") == []


def test_server_gone_silent_mid_fetch_ends_within_the_timeout(tmp_path, dovecot):
    """The proxy stops passing bytes in the middle of the second mail but
    keeps the connection open: the read times out after `timeout` (2 s),
    the run ends with 75, and the first mail is recorded once."""
    d = dovecot
    mails = [dsn(addr, pad=120_000) for addr in OTHERS]
    for m in mails:
        d.deliver(m)
    cut = len(mails[0]) + len(mails[1]) // 2 + 20_000
    with CuttingProxy(d.imaps, cut, stall=True) as proxy:
        conf = make_site(tmp_path, f"imaps://{USER}@127.0.0.1:{proxy.port}",
                         ca=d.ca[0], readers=OTHERS, timeout=2)
        started = time.monotonic()
        p = bounces(conf, timeout=60)
        took = time.monotonic() - started
        assert proxy.cuts == 1
    err = p.stderr.decode()
    assert p.returncode == 75, p.stdout.decode() + err
    assert "silent for 2 s" in err, err
    # one read's timeout, not one per remaining step (a generous bound:
    # the sanitizer build on a loaded machine)
    assert took < 20, took
    assert [events(conf, a) for a in OTHERS] == [[("hard", "5.1.1")], [], []]

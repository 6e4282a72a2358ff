"""`tagdigest bounce-dump`: returned mails built with Python's email package
(RFC 3464 DSNs, RFC 5965 feedback reports, RFC 3834 auto-replies, as
BRIEF-2 §5 builds them) give the JSON report.h promises; several files in
one run print one line each, in order; an unreadable file exits 66 and the
others are still printed."""
import email.policy
import json
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from conftest import BIN

import subprocess

KEYS = ["bounce", "feedback", "recipients"]
RKEYS = ["address", "status", "reply_code", "reason", "hard"]


def dump(*paths, check=True):
    p = subprocess.run([BIN, "bounce-dump", *map(str, paths)], capture_output=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stderr.decode()
    return p


def reports(p):
    lines = p.stdout.decode("utf-8").split("\n")
    assert lines[-1] == "", "output ends in a newline"
    out = [json.loads(line) for line in lines[:-1]]
    for r in out:
        assert list(r) == KEYS
        for rc in r["recipients"]:
            assert list(rc) == RKEYS
    return out


def original():
    m = EmailMessage()
    m["From"] = "Digest <digest@news.example.org>"
    m["To"] = "ann@example.com"
    m["Subject"] = "Weekly digest"
    m["Message-ID"] = "<d1@news.example.org>"
    m.set_content("Hello\n")
    return m


def dsn(recipients, human="Your message could not be delivered."):
    """recipients: (final, action, status, diagnostic or None) tuples."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.net>"
    report["To"] = "bounces@news.example.org"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Auto-Submitted"] = "auto-replied"
    report.attach(MIMEText(human))
    status = MIMEBase("message", "delivery-status")
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.net"
    per_message["Arrival-Date"] = "Thu, 4 Dec 2025 10:00:00 +0000"
    groups = [per_message]
    for final, action, st, diag in recipients:
        g = Message()
        g["Final-Recipient"] = "rfc822; " + final
        g["Original-Recipient"] = "rfc822;" + final
        g["Action"] = action
        g["Status"] = st
        g["Remote-MTA"] = "dns; mx.example.com"
        if diag:
            g["Diagnostic-Code"] = diag
        groups.append(g)
    status.set_payload(groups)
    report.attach(status)
    headers = MIMEText(original().as_string().split("\n\n")[0] + "\n", "rfc822-headers")
    report.attach(headers)
    return report


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_dsn_recipients(tmp_path):
    long_diag = ("smtp; 550 5.1.1 <ann@example.com>: Recipient address rejected: "
                 "User unknown in virtual mailbox table, and a long explanation after it")
    m = dsn([("ann@example.com", "failed", "5.1.1", long_diag),
             ("bob@example.com", "delayed", "4.2.2", "smtp; 452 4.2.2 Mailbox full"),
             ("cat@example.com", "failed", "5.0.0",
              "X-Postfix; host mx.example.com[192.0.2.1] said: 554 5.7.1 rejected as spam")])
    crlf = m.as_bytes(policy=email.policy.SMTP)
    lf = m.as_bytes(policy=email.policy.default)
    assert b"Diagnostic-Code: \r\n" in crlf or b"Diagnostic-Code:\r\n" in crlf or \
        b"\r\n " in crlf.split(b"Diagnostic-Code:")[1][:120], "Python folds the long value"
    a = write(tmp_path, "crlf.eml", crlf)
    b = write(tmp_path, "lf.eml", b"From MAILER-DAEMON Thu Dec  4 10:00:00 2025\n" + lf)
    got = reports(dump(a, b))
    assert len(got) == 2
    assert got[0] == got[1], "CRLF, LF and an mbox From line read alike"
    r = got[0]
    assert r["bounce"] is True and r["feedback"] is None
    addrs = [(x["address"], x["status"], x["reply_code"]) for x in r["recipients"]]
    assert addrs == [("ann@example.com", "5.1.1", "550"),
                     ("bob@example.com", "4.2.2", "452"),
                     ("cat@example.com", "5.7.1", "554")]
    ann, bob, _ = r["recipients"]
    assert ann["reason"] == "userunknown" and ann["hard"] is True
    assert bob["reason"] == "mailboxfull" and bob["hard"] is False


def test_success_dsn(tmp_path):
    m = dsn([("dan@example.com", "delivered", "2.0.0", "smtp; 250 2.0.0 Ok: queued as 1A2B")],
            human="Your message was delivered.")
    got = reports(dump(write(tmp_path, "ok.eml", m.as_bytes(policy=email.policy.SMTP))))
    assert got == [{"bounce": False, "feedback": None,
                    "recipients": [{"address": "dan@example.com", "status": "2.0.0",
                                    "reply_code": "250", "reason": "delivered",
                                    "hard": False}]}]


def arf(feedback_type, rcpt_to):
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "FBL <fbl@isp.example.net>"
    report["To"] = "abuse@news.example.org"
    report["Subject"] = "Complaint"
    report.attach(MIMEText("This is an email abuse report.\n"))
    fb = MIMEBase("message", "feedback-report")
    fields = f"Feedback-Type: {feedback_type}\nUser-Agent: FBL/1.0\nVersion: 1\n"
    if rcpt_to:
        fields += f"Original-Rcpt-To: {rcpt_to}\n"
    fb.set_payload(fields)
    report.attach(fb)
    report.attach(MIMEMessage(original()))
    return report


def test_feedback_report(tmp_path):
    a = write(tmp_path, "abuse.eml", arf("abuse", "eve@example.com").as_bytes(policy=email.policy.SMTP))
    b = write(tmp_path, "optout.eml", arf("Opt-Out", None).as_bytes(policy=email.policy.SMTP))
    got = reports(dump(a, b))
    assert got[0] == {"bounce": False, "feedback": {"type": "abuse"},
                      "recipients": [{"address": "eve@example.com", "status": None,
                                      "reply_code": None, "reason": "feedback",
                                      "hard": False}]}
    # no Original-Rcpt-To: the To of the reported message; the type lowercased
    assert got[1]["feedback"] == {"type": "opt-out"}
    assert [x["address"] for x in got[1]["recipients"]] == ["ann@example.com"]
    assert got[1]["bounce"] is False


def test_auto_reply_and_plain_mail(tmp_path):
    v = EmailMessage()
    v["From"] = "Fay Müller <fay@example.com>"
    v["To"] = "digest@news.example.org"
    v["Subject"] = "Away until Monday"
    v["Auto-Submitted"] = "auto-replied"
    v.set_content("I am away and will read your mail later.\n")
    p = EmailMessage()
    p["From"] = "Gus <gus@example.com>"
    p["To"] = "digest@news.example.org"
    p["Subject"] = "Re: Weekly digest"
    p.set_content("Thanks! By the way, Status: 5.1.1 is not a bounce here.\n")
    got = reports(dump(write(tmp_path, "v.eml", bytes(v)), write(tmp_path, "p.eml", bytes(p))))
    assert got[0] == {"bounce": False, "feedback": None,
                      "recipients": [{"address": "fay@example.com", "status": None,
                                      "reply_code": None, "reason": "vacation",
                                      "hard": False}]}
    assert got[1] == {"bounce": False, "feedback": None, "recipients": []}


def test_unreadable_file(tmp_path):
    good = write(tmp_path, "good.eml", dsn([("hal@example.com", "failed", "5.1.1",
                                             "smtp; 550 5.1.1 No such user")]).as_bytes())
    missing = tmp_path / "missing.eml"
    p = dump(good, missing, good, check=False)
    assert p.returncode == 66
    assert str(missing) in p.stderr.decode()
    got = reports(p)
    assert len(got) == 2, "the readable files are still printed"
    assert got[0] == got[1]
    assert got[0]["recipients"][0]["address"] == "hal@example.com"


def test_hostile_file(tmp_path):
    junk = (b"Content-Type: multipart/report; report-type=delivery-status; boundary=q\n\n"
            b"--q\nContent-Type: message/delivery-status\n\n"
            b"Final-Recipient: rfc822; \x1b]0;pwned\x07ivy\xff@example.com\n"
            b"Action: failed\x00\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 \"\\ \x80\r\x01\n")
    p = dump(write(tmp_path, "junk.eml", junk))
    out = p.stdout
    assert out.count(b"\n") == 1 and out.endswith(b"\n")
    assert b"\x1b" not in out and b"\x07" not in out
    r = reports(p)[0]
    assert len(r["recipients"]) == 1
    addr = r["recipients"][0]["address"]
    assert addr.endswith("@example.com") and all(ord(c) >= 0x20 for c in addr)


def test_usage():
    p = subprocess.run([BIN, "bounce-dump", "--help"], capture_output=True, timeout=30)
    assert p.returncode == 0 and b"usage: tagdigest bounce-dump FILE" in p.stdout
    p = subprocess.run([BIN, "bounce-dump"], capture_output=True, timeout=30)
    assert p.returncode == 64
    p = subprocess.run([BIN, "--help"], capture_output=True, timeout=30)
    assert b"bounce-dump" in p.stdout

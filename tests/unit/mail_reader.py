"""mail_reader.py: a message file read by Python's email package, for the
unit tests that want a second, independent parser (tests/unit/test_notice.c).

    python3 tests/unit/mail_reader.py FILE [PUBKEY.der]

Parses FILE with policy.default and prints one JSON object: the parser's
defects (every part's), the decoded From, To, Subject, the Message-ID,
Date, Auto-Submitted and DKIM-Signature values (null when absent), the
names of any List-* headers, the top content type, and the text/plain and
text/html bodies decoded (transfer encoding and charset).

With PUBKEY.der (an Ed25519 public key, `openssl pkey -pubout -outform
DER`), "dkim_verified" says whether Python's dkim module (python3-dkim,
python3-nacl) verifies the message's signature with that key, handed over
through its dnsfunc hook: nothing touches the network.
"""
import base64
import email
import email.policy
import json
import sys


def dkim_verified(raw, der_path):
    import dkim
    with open(der_path, "rb") as f:
        der = f.read()
    # an Ed25519 SubjectPublicKeyInfo ends in the 32-byte key
    txt = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:])
    return bool(dkim.verify(raw, dnsfunc=lambda name, timeout=5: txt))


def main(path, der_path=None):
    with open(path, "rb") as f:
        raw = f.read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = [f"{part.get_content_type()}: {d!r}"
               for part in msg.walk() for d in part.defects]

    def one(name):
        v = msg.get(name)
        return None if v is None else str(v)

    def mailbox(name):
        h = msg.get(name)
        if h is None or len(h.addresses) != 1:
            return None, None
        return h.addresses[0].display_name, h.addresses[0].addr_spec

    from_name, from_addr = mailbox("From")
    to_name, to_addr = mailbox("To")
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    json.dump({
        "defects": defects,
        "from_name": from_name, "from_addr": from_addr,
        "to_name": to_name, "to_addr": to_addr,
        "subject": one("Subject"),
        "message_id": one("Message-ID"),
        "date": one("Date"),
        "auto_submitted": one("Auto-Submitted"),
        "dkim": one("DKIM-Signature"),
        "list_headers": [k for k in msg.keys() if k.lower().startswith("list-")],
        "content_type": msg.get_content_type(),
        "parts": [p.get_content_type() for p in msg.iter_parts()],
        "text": plain.get_content().replace("\r\n", "\n") if plain else None,
        "html": html.get_content().replace("\r\n", "\n") if html else None,
        "dkim_verified": dkim_verified(raw, der_path) if der_path else None,
    }, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(*sys.argv[1:3])

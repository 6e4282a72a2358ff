"""DKIM signatures from src/compose/dkim.c, checked by an independent verifier.

Keys are made with the openssl CLI (RSA 2048 and Ed25519) in a temporary
folder; messages are signed by the unit-test binary's `--sign` mode
(TD_TEST_DKIM_BIN, default build/asan/test_dkim), which runs the real
td_dkim_sign; Python's dkim module (Debian python3-dkim, plus python3-nacl
for Ed25519) verifies them, with the public key handed over through its
dnsfunc hook, so nothing touches the network.

Two messages: a fixed RFC 5322 one (folded RFC 2047 subject, trailing
whitespace and blank lines in the body) and a digest as td_mime_build makes
it (`--mime`). Signatures must verify; changing a signed header or one body
byte must break them; re-folding whitespace must not (relaxed/relaxed).
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

try:
    import dkim
    import nacl.signing  # noqa: F401  (dkim needs it for ed25519-sha256)
except ImportError as e:  # fail, not skip: a skipped verifier proves nothing
    raise ImportError(f"{e}: apt-get install python3-dkim python3-nacl") from e

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("TD_TEST_DKIM_BIN") or str(ROOT / "build" / "asan" / "test_dkim")
DOMAIN = "digest.example.org"
SELECTOR = "td2024"

FIXED = (
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "From: =?UTF-8?B?S8O2bG4gV2Vla2x5?= <digest@digest.example.org>\r\n"
    "To: juergen@example.net\r\n"
    "Subject: =?UTF-8?B?WW91ciB3ZWVrbHkgZGlnZXN0IOKAlCA1IG5ldyBwb3N0cyA=?=\r\n"
    " =?UTF-8?B?w7xiZXIgU3RyYcOfZW5iYWhu?=\r\n"
    "Message-ID: <1700000000.42@digest.example.org>\r\n"
    "List-Id: Weekly <weekly.digest.example.org>\r\n"
    "List-Unsubscribe: <https://digest.example.org/u/3f9a1c0e?l=weekly>\r\n"
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "X-Unsigned: not in h=\r\n"
    "\r\n"
    "Hello J\u00fcrgen,  \r\n"
    "\r\n"
    "\tFive   new posts this week.\t\r\n"
    "\r\n"
    "\r\n"
).encode("utf-8")


@pytest.fixture(scope="module")
def tool():
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"{BIN} is missing: run `make build/asan/test_dkim` first")
    if not shutil.which("openssl"):
        pytest.fail("the openssl CLI is needed to make test keys")
    return BIN


@pytest.fixture(scope="module")
def keys(tmp_path_factory, tool):
    """{'rsa': (key file, DNS TXT record), 'ed25519': (...), and a second
    key of each type as 'rsa-other', 'ed25519-other'}"""
    d = tmp_path_factory.mktemp("dkim-keys")
    out = {}
    for name in ("rsa", "ed25519", "rsa-other", "ed25519-other"):
        kind = name.split("-")[0]
        args = (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] if kind == "rsa"
                else ["-algorithm", "ED25519"])
        key = d / f"{name}.pem"
        subprocess.run(["openssl", "genpkey", *args, "-out", str(key)],
                       check=True, capture_output=True)
        key.chmod(0o600)
        der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        if kind == "rsa":
            # p= is the SubjectPublicKeyInfo DER (RFC 6376 3.6.1)
            p = base64(der)
        else:
            # p= is the raw 32-byte key (RFC 8463 4), the tail of the SPKI
            assert len(der) == 44
            p = base64(der[-32:])
        out[name] = (str(key), f"v=DKIM1; k={kind}; p={p}".encode())
    return out


def base64(b):
    import base64 as b64
    return b64.b64encode(b).decode()


def sign(tool, key, msg):
    r = subprocess.run([tool, "--sign", key, DOMAIN, SELECTOR], input=msg,
                       capture_output=True)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


def verify(msg, record):
    want = f"{SELECTOR}._domainkey.{DOMAIN}."

    def dnsfunc(name, timeout=5):
        # only the name d= and s= point at has a key: a wrong d= or s=
        # fails instead of finding a record anyway
        name = name.decode() if isinstance(name, bytes) else name
        return record if name.rstrip(".") + "." == want else None
    return dkim.verify(msg, dnsfunc=dnsfunc)


def header_block(msg):
    return msg[:msg.index(b"\r\n\r\n") + 2]


def sub_header(msg, pattern, repl):
    """Replace in the header block only, exactly once."""
    head, body = msg.split(b"\r\n\r\n", 1)
    new, n = re.subn(pattern, repl, head, count=1, flags=re.M | re.I)
    assert n == 1, pattern
    return new + b"\r\n\r\n" + body


@pytest.fixture(scope="module", params=["fixed", "mime"])
def message(request, tool):
    if request.param == "fixed":
        return FIXED
    r = subprocess.run([tool, "--mime"], capture_output=True, check=True)
    # ASCII words stay as they are, the rest is encoded
    assert re.search(rb"^Subject: [^\r]*=\?UTF-8\?B\?", r.stdout, re.M)
    return r.stdout


@pytest.fixture(params=["rsa", "ed25519"])
def signed(request, keys, tool, message):
    key, record = keys[request.param]
    return request.param, sign(tool, key, message), record, message


def test_signature_verifies(signed):
    kind, msg, record, orig = signed
    assert verify(msg, record) is True
    # the header went on top, the message after it is untouched
    assert msg.startswith(b"DKIM-Signature: v=1; a=")
    assert msg.endswith(orig)
    sig = msg[:len(msg) - len(orig)]
    assert (b"a=ed25519-sha256;" if kind == "ed25519" else b"a=rsa-sha256;") in sig
    for line in sig.split(b"\r\n"):
        assert len(line) <= 78, line
    h = re.search(rb"h=([^;]*);", sig).group(1)
    names = [n.strip().lower() for n in re.sub(rb"\s+", b"", h).split(b":")]
    for want in (b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
                 b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version",
                 b"content-type"):
        assert want in names
    assert b"x-unsigned" not in names


def test_wrong_key_fails(signed, keys):
    kind, msg, _, _ = signed
    other = keys[f"{kind}-other"][1]
    assert verify(msg, other) is False


def test_changed_subject_fails(signed):
    _, msg, record, _ = signed
    bad = sub_header(msg, rb"^(Subject: [^\r]*?=\?UTF-8\?B\?)[^X]", rb"\1X")
    assert verify(bad, record) is False


def test_changed_list_unsubscribe_fails(signed):
    _, msg, record, _ = signed
    bad = sub_header(msg, rb"^(List-Unsubscribe: <https://)digest\.", rb"\1evil.")
    assert verify(bad, record) is False
    # dropping the one-click header is a change too
    bad = sub_header(msg, rb"^List-Unsubscribe-Post: .*\r\n", b"")
    assert verify(bad, record) is False


def test_one_body_byte_fails(signed):
    _, msg, record, _ = signed
    start = msg.index(b"\r\n\r\n", msg.index(b"\r\nFrom:")) + 4
    m = re.compile(rb"[A-Za-z0-9]").search(msg, start)
    i = m.start()
    bad = msg[:i] + (b"x" if msg[i:i + 1] != b"x" else b"y") + msg[i + 1:]
    assert verify(bad, record) is False
    # an added line of text is a change as well
    assert verify(msg + b"P.S.\r\n", record) is False


def test_refolded_whitespace_still_verifies(signed):
    """relaxed/relaxed: header name case, folding, WSP runs, trailing WSP,
    WSP at line ends and blank lines at the end of the body do not count."""
    _, msg, record, _ = signed
    m = sub_header(msg, rb"^Subject: ", b"SUBJECT:\r\n \t ")
    m = sub_header(m, rb"^(List-Unsubscribe:) (<[^>]*>)", rb"\1\r\n\t\2 \t")
    m = sub_header(m, rb"^From: (\S+)", rb"from:   \1 ")
    m = sub_header(m, rb"^(DKIM-Signature:) v=1; ", rb"\1\r\n  v=1;\r\n\t")
    m += b"\r\n \t\r\n\r\n"  # body: blank lines at the end
    assert m != msg
    assert verify(m, record) is True
    # trailing WSP on a body line
    head, body = m.split(b"\r\n\r\n", 1)
    first_eol = body.index(b"\r\n")
    m2 = head + b"\r\n\r\n" + body[:first_eol] + b" \t " + body[first_eol:]
    assert verify(m2, record) is True


def test_bottom_most_instance_is_signed(keys, tool):
    """RFC 6376 5.4.2: with two Subjects, the verifier checks the lower one,
    so that is the one that must be signed."""
    key, record = keys["ed25519"]
    msg = FIXED.replace(b"To: ", b"Subject: an older subject\r\nTo: ", 1)
    signed = sign(tool, key, msg)
    assert verify(signed, record) is True
    bad = signed.replace(b"Subject: =?UTF-8?B?W", b"Subject: =?UTF-8?B?X", 1)
    assert bad != signed
    assert verify(bad, record) is False


def test_empty_body_verifies(keys, tool):
    for kind in ("rsa", "ed25519"):
        key, record = keys[kind]
        msg = header_block(FIXED) + b"\r\n"
        assert verify(sign(tool, key, msg), record) is True


def test_key_readable_by_others_is_refused(keys, tool, tmp_path):
    key = tmp_path / "open.pem"
    key.write_bytes(pathlib.Path(keys["rsa"][0]).read_bytes())
    key.chmod(0o644)
    r = subprocess.run([tool, "--sign", str(key), DOMAIN, SELECTOR], input=FIXED,
                       capture_output=True)
    assert r.returncode == 78  # EX_CONFIG
    assert b"chmod 600" in r.stderr and str(key).encode() in r.stderr
    assert r.stdout == b""

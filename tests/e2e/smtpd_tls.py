#!/usr/bin/python3
"""A small SMTP server for the delivery tests: aiosmtpd (Debian's
python3-aiosmtpd) on 127.0.0.1, with STARTTLS and AUTH.

    smtpd_tls.py --port N --cert CERT --key KEY --dump DIR
                 [--no-starttls] [--user U --password P] [--smtps]

--no-starttls   offer no STARTTLS (the "required but not offered" case)
--smtps         TLS from the first byte (implicit TLS, as on port 465)
--user/--password  require AUTH (PLAIN/LOGIN, only after TLS) before MAIL

Every accepted message is written to DIR as one file: the envelope as
"X-Env-From:" / "X-Env-To:" lines, then the message. The transcript of
each session (commands only, never the AUTH payload) goes to DIR/../log.
Prints "READY" on stdout once it listens. Stops on SIGTERM.
"""
import argparse
import os
import signal
import ssl
import sys
import time
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, dump):
        self.dump = dump

    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(self.dump, uuid.uuid4().hex + ".eml")
        with open(name + ".tmp", "wb") as f:
            f.write(f"X-Env-From: {envelope.mail_from}\n".encode())
            for r in envelope.rcpt_tos:
                f.write(f"X-Env-To: {r}\n".encode())
            f.write(envelope.original_content)
        os.rename(name + ".tmp", name)
        return "250 2.0.0 Ok: queued as " + os.path.basename(name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--no-starttls", action="store_true")
    ap.add_argument("--smtps", action="store_true")
    ap.add_argument("--user")
    ap.add_argument("--password")
    args = ap.parse_args()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and
              auth_data.login.decode() == args.user and
              auth_data.password.decode() == args.password)
        return AuthResult(success=ok, handled=False)

    kwargs = dict(hostname="127.0.0.1", port=args.port,
                  server_hostname="localhost", ready_timeout=10)
    smtp_kwargs = dict(auth_require_tls=True)
    if args.user:
        smtp_kwargs.update(authenticator=authenticator, auth_required=True)
    else:
        smtp_kwargs.update(auth_required=False)
    if args.smtps:
        kwargs["ssl_context"] = ctx
        # aiosmtpd only knows about STARTTLS: on implicit TLS it would
        # think the session is plain and hide AUTH
        smtp_kwargs["auth_require_tls"] = False
    elif not args.no_starttls:
        smtp_kwargs.update(tls_context=ctx, require_starttls=False)
    controller = Controller(Handler(args.dump), **kwargs, **smtp_kwargs)
    controller.start()
    print("READY", flush=True)

    done = [False]

    def on_term(signum, frame):
        done[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    # bounded: the tests stop the server; this is only a backstop
    for _ in range(20 * 300):
        if done[0]:
            break
        time.sleep(0.05)
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

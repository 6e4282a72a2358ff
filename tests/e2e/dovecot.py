"""A throwaway Dovecot (IMAP and POP3) for the bounce mailbox tests, and a
TCP proxy that cuts a connection after so many bytes.

Dovecot runs on 127.0.0.1 on four free ports (imap, imaps, pop3, pop3s)
with a config written into its own temporary folder, one passwd-file user,
and a server certificate for 127.0.0.1 and localhost signed by a CA made
here with openssl (a second, unrelated CA is made too, for the "certificate
from another CA" test). Messages are delivered into the user's Maildir the
way an MDA does (tmp/ then rename into new/).

Run as root (BRIEF-2 §2): the userdb gives uid nobody, because Dovecot
refuses uid 0, and the Maildir is chowned to nobody, or Dovecot shows an
empty INBOX. Run as another user, Dovecot runs as that user. Every wait is
bounded; stop() ends the master and everything in its process group.
"""
import contextlib
import os
import pathlib
import pwd
import grp
import itertools
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "bounce"
PASSWORD = "s3cret-Bounce"
_SEQ = itertools.count(1)  # unique delivery names within a process


def free_ports(n):
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(d, name):
    """A CA key and certificate in folder d: (cert, key) paths."""
    d = pathlib.Path(d)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)
    return d / f"{name}.pem", d / f"{name}.key"


def make_server_cert(d, ca, name, sans="DNS:localhost,IP:127.0.0.1"):
    """A server certificate for sans signed by ca: (cert, key) paths."""
    d = pathlib.Path(d)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-subj", "/CN=localhost", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
    (d / f"{name}.ext").write_text(
        f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
             "-out", f"{name}.pem", cwd=d)
    return d / f"{name}.pem", d / f"{name}.key"


CONFIG = """\
base_dir = {T}/run
state_dir = {T}/state
log_path = {T}/dovecot.log
info_log_path = {T}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
# A wrong password answers at once, not after the default 2 s.
auth_failure_delay = 0
auth_verbose = yes
{owner}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {T}/users
}}
userdb {{
  driver = static
  args = {uid}home={T}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
  {chroot}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
  {chroot}
}}
service anvil {{
  {chroot}
}}
"""


def _group_alive(pgid):
    """Whether a process of group pgid still runs (zombies do not: they
    only wait for init to reap them)."""
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class Dovecot:
    """One Dovecot; use as a context manager or call start()/stop().
    sans: the names its certificate is for (openssl subjectAltName).
    sni_only: a name; then the test CA's certificate is shown only to a
    client that asks for that name with SNI, and any other client gets
    one signed by the other CA."""

    def __init__(self, root=None, sans="DNS:localhost,IP:127.0.0.1", sni_only=None):
        # Its own folder under /tmp, reachable by uid nobody (pytest's
        # tmp_path sits under a 0700 folder).
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="td-dovecot-", dir=root))
        os.chmod(self.dir, 0o755)
        self.proc = None
        self.imap, self.imaps, self.pop3, self.pop3s = free_ports(4)
        self.ca = make_ca(self.dir, "test-ca")
        self.other_ca = make_ca(self.dir, "other-ca")
        self.cert = make_server_cert(self.dir, self.ca, "server", sans)
        self.sni_only = sni_only
        if sni_only:
            self.default_cert = make_server_cert(self.dir, self.other_ca, "default", sans)
        self.maildir = self.dir / "home" / USER / "Maildir"
        self.log_path = self.dir / "dovecot.log"
        if os.geteuid() == 0:
            self.uid = pwd.getpwnam("nobody").pw_uid
            self.gid = grp.getgrnam("nogroup").gr_gid
        else:
            self.uid, self.gid = os.geteuid(), os.getegid()

    # -- life cycle --------------------------------------------------------

    def start(self, timeout=10.0):
        T = self.dir
        for sub in ("run", "state"):
            (T / sub).mkdir(exist_ok=True)
        for sub in ("cur", "new", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        self._chown_home()
        (T / "users").write_text(f"{USER}:{PASSWORD}\n")
        # Dovecot's auth process reads it as its own internal user.
        os.chmod(T / "users", 0o644)
        # Dovecot reads the key as root before it drops privileges.
        os.chmod(self.cert[1], 0o600)
        if os.geteuid() == 0:
            owner, uid, chroot = "", "uid=nobody gid=nogroup ", ""
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            owner = (f"default_login_user = {me}\ndefault_internal_user = {me}\n"
                     f"default_internal_group = {group}\n")
            uid, chroot = "", "chroot ="
        cert = self.cert
        if self.sni_only:
            cert = self.default_cert
            os.chmod(cert[1], 0o600)
            owner += (f"local_name {self.sni_only} {{\n"
                      f"  ssl_cert = <{self.cert[0]}\n  ssl_key = <{self.cert[1]}\n}}\n")
        (T / "dovecot.conf").write_text(CONFIG.format(
            T=T, cert=cert[0], key=cert[1], owner=owner, uid=uid,
            chroot=chroot, imap=self.imap, imaps=self.imaps, pop3=self.pop3,
            pop3s=self.pop3s))
        self.proc = subprocess.Popen(
            [DOVECOT, "-c", str(T / "dovecot.conf"), "-F"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(T / "stderr.log", "wb"), start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self.proc.returncode}: "
                                   + self.log() + (T / "stderr.log").read_text())
            if self._greets():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dovecot did not answer within "
                                   f"{timeout} s: " + self.log())
            time.sleep(0.02)

    def _greets(self):
        """The plain IMAP port answers with its greeting."""
        try:
            with socket.create_connection(("127.0.0.1", self.imap), timeout=1) as s:
                return s.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self):
        """SIGTERM, then SIGKILL after 0.3 s (Dovecot's own shutdown takes
        2-3 s); then SIGKILL to whatever is left in its process group,
        until only zombies waiting for init remain. Bounded."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=0.3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while _group_alive(pgid) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            time.sleep(0.01)
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- the mailbox -------------------------------------------------------

    def _chown_home(self):
        home = self.dir / "home"
        for p in [home, *home.rglob("*")]:
            os.chown(p, self.uid, self.gid)

    def deliver(self, data, name=None):
        """Delivers bytes into the INBOX as an MDA does: tmp/, then a rename
        into new/. Returns the file name."""
        name = name or f"{time.time_ns()}.M{next(_SEQ)}P{os.getpid()}.test"
        tmp = self.maildir / "tmp" / name
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chown(tmp, self.uid, self.gid)
        os.rename(tmp, self.maildir / "new" / name)
        return name

    def files(self, folder=None):
        """Names of the messages in the INBOX (or Maildir++ .folder)."""
        base = self.maildir / f".{folder}" if folder else self.maildir
        return sorted(p.name for sub in ("new", "cur")
                      for p in (base / sub).glob("*") if p.is_file()) \
            if base.exists() else []

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- a client's view ---------------------------------------------------

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=str(self.ca[0]))
        return ctx

    def imap_folder(self, folder="INBOX"):
        """Message bytes in folder, read with Python's imaplib (not
        tagdigest): a list of bytes, in UID order; None when the folder
        does not exist."""
        import imaplib
        with imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=self.ssl_context(),
                               timeout=10) as c:
            c.login(USER, PASSWORD)
            typ, _ = c.select(folder, readonly=True)
            if typ != "OK":
                return None
            typ, data = c.uid("SEARCH", None, "ALL")
            uids = data[0].split()
            out = []
            for uid in uids:
                typ, msg = c.uid("FETCH", uid, "(BODY.PEEK[])")
                out.append(msg[0][1])
            return out

    def imap_state(self, folder="INBOX"):
        """What a reader only (EXAMINE, which takes no \\Recent) sees:
        (the server's folder names, the RECENT count of folder, the flags
        of each of its messages in UID order, as sets of bytes)."""
        import imaplib
        with imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=self.ssl_context(),
                               timeout=10) as c:
            c.login(USER, PASSWORD)
            typ, listed = c.list()
            assert typ == "OK", listed
            names = sorted(line.rsplit(b" ", 1)[-1].strip(b'"').decode()
                           for line in listed if line)
            typ, _ = c.select(folder, readonly=True)
            assert typ == "OK", folder
            _, recent = c.response("RECENT")
            typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
            flags = [set(re.search(rb"FLAGS \(([^)]*)\)", d).group(1).split())
                     for d in data if d]
            return names, int(recent[0] or 0), flags


class CuttingProxy:
    """Forwards 127.0.0.1:port to upstream and cuts a connection (both
    ways, at once) after cut_after bytes came from the server; with
    stall=True it keeps the connection open instead and passes nothing
    more either way (a server gone silent). TLS passes through untouched:
    the cut lands by byte count, so the test sizes its messages to put it
    inside the second fetch."""

    def __init__(self, upstream_port, cut_after, stall=False):
        self.upstream = ("127.0.0.1", upstream_port)
        self.cut_after = cut_after
        self.stall = stall
        self.cuts = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads = []
        self._socks = []
        self._lock = threading.Lock()
        self._accept = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._accept.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._accept.join(timeout=5)
        with self._lock:
            for s in self._socks:
                with contextlib.suppress(OSError):
                    s.close()
        for t in self._threads:
            t.join(timeout=5)
        self.listener.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, server]
            t = threading.Thread(target=self._pump, args=(client, server), daemon=True)
            self._threads.append(t)
            t.start()

    def _pump(self, client, server):
        sent = 0
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([client, server], [], [], 0.2)
                for s in ready:
                    data = s.recv(16384)
                    if not data:
                        return
                    if s is server:
                        if sent + len(data) > self.cut_after:
                            # Pass on what fits, then hang up mid-stream
                            # (or go silent until the test ends).
                            client.sendall(data[:self.cut_after - sent])
                            self.cuts += 1
                            if self.stall:
                                self._stop.wait(60)
                            return
                        sent += len(data)
                        client.sendall(data)
                    else:
                        server.sendall(data)
        except OSError:
            return
        finally:
            for s in (client, server):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

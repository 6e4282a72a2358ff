#!/usr/bin/env python3
"""make bench: how `tagdigest serve --public` holds up under load and under
slowloris, against nginx serving the same page from a file.

Builds the e2e test site (tests/e2e/conftest.py write_site), sends one
digest into a Maildir and takes a real unsubscribe link from its
List-Unsubscribe header (so the token is the binary's own, whatever its
format), then starts `serve --public` on a free loopback port and measures:

(a) load, four ways, each reporting requests/s, p50, p99 and errors
    (non-2xx answers, socket errors):
    - wrk --latency from one address (127.0.0.1) at a few thread/connection
      settings. The server's per-client rate limit (a token bucket per
      address) answers almost all of these with 429: that is the limit
      working, and the numbers are those of the refusing path. Said in
      the output.
    - wrk from one trusted proxy address with a different X-Forwarded-For
      per request (198.18.0.0/15, the benchmarking range; only a header
      value, no traffic goes there), with `[public] trusted_proxies =
      127.0.0.1`: a server behind nginx or Caddy. All of a proxy's
      connections come from one address, so this runs with 16 connections
      (the default max_connections_per_ip), and with 200 against a second
      server with max_connections_per_ip = 256, as docs/DEPLOY.md advises
      behind a proxy. A server that does not believe the header (main
      before issue 11) shows all 429s here too.
    - a Python asyncio client spreading connections over many source
      addresses (127.1.0.1, 127.1.0.2, ...), a few requests per address on
      a keep-alive connection, then the next address: many readers each
      asking a little, with no proxy. wrk cannot bind source addresses.
      The Python client is slower than the server; its own ceiling is
      shown by the same run against nginx.
    - through the shipped docs/proxy/nginx-tagdigest-public.conf (a
      certificate made here, loopback ports) in TLS, to a server with
      trusted_proxies = 127.0.0.1 and max_connections_per_ip = 256, then
      the largest slowloris run against that nginx, in TLS.
(b) slowloris: N half-open connections (default 128, 512, 1500) from
    127.0.0.2-127.0.0.5, each sending a request line and then one header
    line every few seconds, reconnecting when dropped; meanwhile a probe
    from 127.0.0.1, in a process of its own (the attack's event loop
    cannot delay it), GETs the unsubscribe page every second and counts
    an answer only if it is whole within 3 s. Reports probes answered (any
    HTTP answer; 200s apart), probe p50/p99, and the connections the
    attack held open (client side).

The peer is nginx (Debian's, started here with a config in a temp folder,
2 workers, 4096 worker connections) serving the same page bytes from a
file: the event-driven server people put in front, as a ceiling. Without
nginx installed, the peer is skipped and said so.

Every loop is bounded in time; every server started here is stopped.

    python3 tests/bench/bench_public.py --bin build/tagdigest [--smoke]
"""
import argparse
import asyncio
import email
import email.policy
import http.client
import itertools
import multiprocessing
import os
import pathlib
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from conftest import free_port, write_site  # noqa: E402  (the e2e test site)

SECRET = "bench-public-secret-0123456789abcdef"
NGINX = "/usr/sbin/nginx"
WRK = "/usr/bin/wrk"
SLOW_SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
# behind a proxy (docs/DEPLOY.md): its connections to tagdigest at most
PROXY_PER_IP = 256
PROXY_CONNS = 200

# wrk: a different X-Forwarded-For per request, from 198.18.0.0/15.
XFF_LUA = """
local n = 0
local id = 0
setup = function(thread) thread:set("id", id); id = id + 1 end
init = function(args) n = id * 1000003 end
request = function()
  n = n + 1
  local ip = string.format("198.18.%d.%d", math.floor(n / 250) % 250, n % 250 + 1)
  return wrk.format(nil, nil, {["X-Forwarded-For"] = ip})
end
"""


def wait_http(port, path, proc, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            c.getresponse().read()
            c.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer within {timeout} s")


def stop(proc, timeout=15):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


class Started:
    """A server process started here: stopped again if it never answers."""

    def wait(self, what):
        try:
            wait_http(self.port, "/", self.proc, what)
        except RuntimeError:
            self.stop()
            raise


class Public(Started):
    """`tagdigest serve --public` on a free loopback port."""

    def __init__(self, binary, conf, opts=()):
        self.port = free_port()
        self.log = open(conf.parent / f"public-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf), *opts, "serve", "--public",
             "--listen", f"127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT,
            env=dict(os.environ, TAGDIGEST_TOKEN_SECRET=SECRET))
        self.wait("serve --public")

    def stop(self):
        rc = stop(self.proc)
        self.log.close()
        return rc


class Nginx(Started):
    """nginx on a free loopback port serving `pages` ({path: bytes})."""

    def __init__(self, pages):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="td-nginx-"))
        os.chmod(self.dir, 0o755)
        www = self.dir / "www"
        for path, body in pages.items():
            f = www / path.lstrip("/")
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(body)
        for d in [www, *www.rglob("*")]:
            os.chmod(d, 0o755 if d.is_dir() else 0o644)
        self.port = free_port()
        (self.dir / "nginx.conf").write_text(
            "daemon off;\nworker_processes 2;\n"
            f"pid {self.dir}/nginx.pid;\nerror_log {self.dir}/error.log;\n"
            "events { worker_connections 4096; }\n"
            "http {\n  access_log off;\n  default_type text/html;\n"
            f"  server {{ listen 127.0.0.1:{self.port}; root {www}; }}\n}}\n")
        self.proc = subprocess.Popen([NGINX, "-e", str(self.dir / "error.log"), "-p", str(self.dir),
                                      "-c", str(self.dir / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait("nginx")

    def stop(self):
        rc = stop(self.proc)      # SIGTERM: nginx's fast stop, workers too
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


class NginxProxy(Started):
    """nginx with the shipped docs/proxy/nginx-tagdigest-public.conf in
    front of serve --public on `upstream`: a certificate made here for
    Let's Encrypt's, loopback ports for 80 and 443, the upstream's port
    for 8026. Each of these must be found in the file, so the bench says
    so when the file changes."""

    def __init__(self, upstream):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="td-nginx-proxy-"))
        os.chmod(self.dir, 0o755)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=news.example.org", "-keyout", str(self.dir / "key.pem"),
                        "-out", str(self.dir / "cert.pem")], check=True, capture_output=True,
                       timeout=60)
        self.port, plain = free_port(), free_port()
        site = (ROOT / "docs" / "proxy" / "nginx-tagdigest-public.conf").read_text()
        for old, new in [
                ("/etc/letsencrypt/live/news.example.org/fullchain.pem", str(self.dir / "cert.pem")),
                ("/etc/letsencrypt/live/news.example.org/privkey.pem", str(self.dir / "key.pem")),
                ("listen 80;", f"listen 127.0.0.1:{plain};"),
                ("listen [::]:80;", ""),
                ("listen 443 ssl http2;", f"listen 127.0.0.1:{self.port} ssl http2;"),
                ("listen [::]:443 ssl http2;", ""),
                ("server 127.0.0.1:8026;", f"server 127.0.0.1:{upstream};")]:
            if old not in site:
                shutil.rmtree(self.dir, ignore_errors=True)
                raise RuntimeError(f"docs/proxy/nginx-tagdigest-public.conf has no {old!r}")
            site = site.replace(old, new)
        (self.dir / "site.conf").write_text(site)
        (self.dir / "nginx.conf").write_text(
            "daemon off;\nworker_processes 2;\n"
            f"pid {self.dir}/nginx.pid;\nerror_log {self.dir}/error.log;\n"
            "events { worker_connections 4096; }\n"
            f"http {{\n  access_log off;\n  include {self.dir}/site.conf;\n}}\n")
        self.proc = subprocess.Popen([NGINX, "-e", str(self.dir / "error.log"), "-p", str(self.dir),
                                      "-c", str(self.dir / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.plain = plain
        try:
            wait_http(plain, "/", self.proc, "nginx (proxy)")   # its redirect
        except RuntimeError:
            self.stop()
            raise

    def stop(self):
        rc = stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


# ---- (a) load ----

def ms(value, unit):
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(port, path, threads, conns, seconds, script=None, scheme="http"):
    """One wrk run; returns a dict of rps, p50, p99 (ms), requests,
    non2xx, socket errors."""
    cmd = [WRK, f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "3s"]
    if script:
        cmd += ["-s", script]
    cmd.append(f"{scheme}://127.0.0.1:{port}{path}")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    out = p.stdout
    if p.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {out}{p.stderr}")
    lat = {q: ms(v, u) for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": lat.get("50"), "p99": lat.get("99"),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "sockerr": tuple(int(x) for x in sock.groups()) if sock else (0, 0, 0, 0),
    }


# fresh addresses for every run: a bucket an earlier run drained would
# answer 429
NEXT_ADDRESS = itertools.count()


def spread_address(k):
    """The k-th client address: 127.1.0.1, 127.1.0.2, ... (.0 and .255 skipped)."""
    a, rest = divmod(k, 256 * 254)
    b, c = divmod(rest, 254)
    return f"127.{1 + a % 250}.{b}.{c + 1}"


def tls_client():
    """TLS to the bench's own nginx, whose certificate is made here."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def connect_from(port, src, tls=None):
    """A connection to 127.0.0.1:port from source address `src` (in TLS
    with the context `tls`), or None when it is refused or not made
    within 3 s (10 s with TLS: the handshakes of many at once queue up in
    this one process)."""
    try:
        return await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0), ssl=tls),
            10 if tls else 3)
    except (OSError, asyncio.TimeoutError):
        return None


async def read_response(reader):
    """Status and whether the server closes, after reading the whole
    answer (Content-Length bodies; MHD and nginx send them here)."""
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed before the status line")
    status = int(line.split()[1])
    length, close = 0, False
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and "close" in value.lower():
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def spread_load(port, path, conns, seconds, per_address):
    """`conns` keep-alive connections, each from a fresh source address
    every `per_address` requests. Returns the same dict as wrk()."""
    lat, statuses = [], {}
    errors = {"connect": 0, "read": 0, "timeout": 0}
    deadline = time.monotonic() + seconds
    req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode()

    async def client():
        while time.monotonic() < deadline:
            conn = await connect_from(port, spread_address(next(NEXT_ADDRESS)))
            if conn is None:
                errors["connect"] += 1
                await asyncio.sleep(0.05)
                continue
            r, w = conn
            try:
                for _ in range(per_address):
                    if time.monotonic() >= deadline:
                        break
                    t0 = time.perf_counter()
                    w.write(req)
                    status, close = await asyncio.wait_for(read_response(r), 3)
                    lat.append(time.perf_counter() - t0)
                    statuses[status] = statuses.get(status, 0) + 1
                    if close:
                        break
            except asyncio.TimeoutError:
                errors["timeout"] += 1
            except (OSError, ConnectionError, ValueError, IndexError,
                    asyncio.IncompleteReadError):
                errors["read"] += 1
            finally:
                w.close()

    t0 = time.monotonic()
    await asyncio.gather(*(client() for _ in range(conns)))
    elapsed = time.monotonic() - t0
    lat.sort()
    n = len(lat)
    return {
        "rps": n / elapsed,
        "p50": lat[n // 2] * 1e3 if n else None,
        "p99": lat[min(n - 1, int(n * 0.99))] * 1e3 if n else None,
        "requests": n,
        "non2xx": sum(v for k, v in statuses.items() if not 200 <= k < 300),
        "sockerr": (errors["connect"], errors["read"], 0, errors["timeout"]),
    }


def fmt_ms(v):
    return "-" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.0f}")


def load_row(label, r, peer=None):
    ratio = f"{r['rps'] / peer['rps']:.2f}" if peer and peer["rps"] else "-"
    ok = r["requests"] - r["non2xx"]
    return (f"| {label} | {r['rps']:,.0f} | {fmt_ms(r['p50'])} | {fmt_ms(r['p99'])} | "
            f"{r['requests']:,} | {ok:,} | {r['non2xx']:,} | "
            f"{'/'.join(f'{n:,}' for n in r['sockerr'])} | {ratio} |")


# ---- (b) slowloris ----

def probe_one(port, path, tls, out, k):
    """One probe GET; out[k] = (seconds, status), or (None, None) when no
    whole answer came within 3 s."""
    t0 = time.perf_counter()
    try:
        c = (http.client.HTTPSConnection("127.0.0.1", port, timeout=3, context=tls_client())
             if tls else http.client.HTTPConnection("127.0.0.1", port, timeout=3))
        try:
            c.request("GET", path, headers={"Connection": "close"})
            r = c.getresponse()
            r.read()
            took = time.perf_counter() - t0
            out[k] = (took, r.status) if took <= 3 else (None, None)
        finally:
            c.close()
    except (OSError, http.client.HTTPException):
        out[k] = (None, None)


def probes(port, path, count, tls, delay, queue):
    """In a process of its own, so that the attack's event loop (and its
    TLS handshakes) cannot delay the probes or their clocks: after `delay`
    seconds, one probe a second on the clock, each in its own thread (a
    probe that waits its 3 s does not hold up the next)."""
    time.sleep(delay)
    out = [(None, None)] * count
    threads = []
    t_start = time.monotonic()
    for k in range(count):
        time.sleep(max(0.0, t_start + k - time.monotonic()))
        t = threading.Thread(target=probe_one, args=(port, path, tls, out, k))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=10)
    queue.put(out)


async def attack(port, path, n, seconds, interval, tls):
    """N half-open connections for 3 + seconds + 4 s; the connections held
    (client side), sampled once a second from the fourth, and the
    reconnects."""
    held = 0
    reconnects = 0
    stop_at = time.monotonic() + 3 + seconds + 4
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    ctx = tls_client() if tls else None

    async def one(i):
        nonlocal held, reconnects
        src = SLOW_SOURCES[i % len(SLOW_SOURCES)]
        await asyncio.sleep(2.5 * i / n)     # opened over 2.5 s, not at once
        while time.monotonic() < stop_at:
            conn = await connect_from(port, src, ctx)
            if conn is None:
                reconnects += 1
                await asyncio.sleep(0.5)
                continue
            r, w = conn
            counted = False
            try:
                w.write(head)
                await w.drain()
                held += 1
                counted = True
                k = 0
                while time.monotonic() < stop_at:
                    try:
                        # an answer or EOF means the server let go
                        await asyncio.wait_for(r.read(4096), interval)
                        break
                    except asyncio.TimeoutError:
                        pass
                    k += 1
                    w.write(f"X-Slow-{k}: {i}\r\n".encode())
                    await w.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                if counted:
                    held -= 1
                w.close()
            reconnects += 1
            await asyncio.sleep(0.2)

    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    helds = []
    try:
        await asyncio.sleep(3)
        for _ in range(seconds):
            helds.append(held)
            await asyncio.sleep(1)
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # the transports close on the loop's next turns: let them, so the
        # sockets are gone before the next run (not at garbage collection)
        await asyncio.sleep(0.5)
    return helds, reconnects


def slowloris(port, path, n, seconds, interval, probe_path, tls=False):
    """The attack and, in another process, a probe a second. Returns the
    probe latencies (None: no answer within 3 s), the probe statuses, the
    connections held at each second, and the reconnects."""
    queue = multiprocessing.get_context("fork").Queue()
    prober = multiprocessing.get_context("fork").Process(
        target=probes, args=(port, probe_path, seconds, tls, 3, queue))
    prober.start()
    try:
        helds, reconnects = asyncio.run(attack(port, path, n, seconds, interval, tls))
        done = queue.get(timeout=30)
    finally:
        prober.join(timeout=30)
        if prober.is_alive():
            prober.kill()
            prober.join()
    statuses = {}
    for _, st in done:
        if st is not None:
            statuses[st] = statuses.get(st, 0) + 1
    return [d for d, _ in done], statuses, helds, reconnects


def slow_row(label, n, res):
    lat, statuses, helds, reconnects = res
    answered = [x * 1e3 for x in lat if x is not None]
    answered.sort()
    k = len(answered)
    p50 = answered[k // 2] if k else None
    p99 = answered[min(k - 1, int(k * 0.99))] if k else None
    ok = statuses.get(200, 0)
    helds = sorted(helds)
    return (f"| {label} | {n} | {k}/{len(lat)} ({ok} × 200) | {fmt_ms(p50)} | {fmt_ms(p99)} | "
            f"{helds[len(helds) // 2] if helds else 0} | {reconnects:,} |")


def behind_proxy(srv, unsub, script, settings, args, failures):
    """Load and slowloris through the shipped nginx file, in TLS, to the
    server configured as docs/DEPLOY.md says."""
    proxy = NginxProxy(srv.port)
    try:
        print(f"\n## behind docs/proxy/nginx-tagdigest-public.conf (TLS), "
              f"max_connections_per_ip = {PROXY_PER_IP}\n")
        print("wrk's X-Forwarded-For stands for the clients' addresses: nginx appends "
              "127.0.0.1, a trusted proxy, and tagdigest takes the entry left of it. "
              "Above 16 connections from wrk's one address, nginx's limit_conn answers "
              "503: the non-2xx.\n")
        print("| run | req/s | p50 ms | p99 ms | requests | 2xx | non-2xx "
              "| socket errors: connect/read/write/timeout | ratio to direct |")
        print("|---|---|---|---|---|---|---|---|---|")
        t = settings[-1][0]
        for c in sorted({min(settings[-1][1], PROXY_CONNS), 16}):
            direct = wrk(srv.port, unsub, t, c, args.seconds, script=str(script))
            r = wrk(proxy.port, unsub, t, c, args.seconds, script=str(script), scheme="https")
            print(load_row(f"GET /unsubscribe/TOKEN through nginx, wrk -t{t} -c{c}", r, direct))
            if r["requests"] == r["non2xx"]:
                failures.append(f"nothing answered 2xx through nginx at -c{c}")
        print("\n| server | half-open | probes answered | probe p50 ms | probe p99 ms "
              "| held (median) | reconnects |")
        print("|---|---|---|---|---|---|---|")
        for n in [int(x) for x in args.slowloris.split(",")][-1:]:
            res = slowloris(proxy.port, unsub, n, args.slow_seconds, 5, unsub, tls=True)
            print(slow_row("tagdigest behind nginx", n, res))
    finally:
        proxy.stop()


# ---- the site ----

def make_site(root):
    conf = write_site(root, "maildir")
    env = dict(os.environ, TAGDIGEST_TOKEN_SECRET=SECRET)
    return conf, env


def unsubscribe_path(binary, conf, env):
    p = subprocess.run([binary, "-c", str(conf), "run"], capture_output=True, text=True,
                       timeout=120, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"tagdigest run exited {p.returncode}: {p.stderr[-2000:]}")
    for f in sorted((conf.parent / "outbox" / "new").iterdir()):
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        lu = msg["List-Unsubscribe"]
        m = re.search(r"<(https?://[^>]+/unsubscribe/[^>]+)>", str(lu or ""))
        if m:
            return urllib.parse.urlsplit(m.group(1)).path
    raise RuntimeError("no digest carries a List-Unsubscribe URL")


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "tagdigest"))
    ap.add_argument("--smoke", action="store_true",
                    help="a few seconds of each measurement, so the bench cannot rot")
    ap.add_argument("--seconds", type=int, default=10, help="length of each load run")
    ap.add_argument("--wrk", default="1x10,2x100,2x400",
                    help="wrk settings, THREADSxCONNECTIONS,...")
    ap.add_argument("--slowloris", default="128,512,1500", help="half-open connection counts")
    ap.add_argument("--slow-seconds", type=int, default=20, help="probes per slowloris run")
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)   # rows as they come, under make
    if args.smoke:
        args.seconds, args.wrk, args.slowloris, args.slow_seconds = 1, "1x10", "128", 3
    settings = [tuple(int(x) for x in s.split("x")) for s in args.wrk.split(",")]
    slow_ns = [int(x) for x in args.slowloris.split(",")]
    if not os.access(WRK, os.X_OK):
        sys.exit(f"{WRK} is missing: `make bench` installs Debian's wrk")
    use_peer = not args.no_peer and os.access(NGINX, os.X_OK)

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="td-bench-public-"))
    failures = []
    try:
        conf, env = make_site(tmp / "site")
        unsub = unsubscribe_path(args.bin, conf, env)
        script = tmp / "xff.lua"
        script.write_text(XFF_LUA)
        # the X-Forwarded-For runs need [public] trusted_proxies; a build
        # without it refuses the key (exit 78): then without it, and said
        try:
            srv = Public(args.bin, conf, opts=["-o", "public.trusted_proxies=127.0.0.1"])
        except RuntimeError as e:
            if "exited 78" not in str(e):
                raise
            print("this build has no [public] trusted_proxies: X-Forwarded-For is not believed")
            srv = Public(args.bin, conf)
            trusted = False
        else:
            trusted = True
        proxy_srv = None
        try:
            # the server as docs/DEPLOY.md runs it behind a proxy
            if trusted:
                proxy_srv = Public(args.bin, conf, opts=[
                    "-o", "public.trusted_proxies=127.0.0.1",
                    "-o", f"public.max_connections_per_ip={PROXY_PER_IP}"])
            st, page = get(srv.port, unsub)
            if st != 200:
                raise RuntimeError(f"GET {unsub} answered {st}")
            paths = [("GET /unsubscribe/TOKEN", unsub)]
            st_sub, sub_page = get(srv.port, "/subscribe")
            if st_sub == 200:
                paths.append(("GET /subscribe", "/subscribe"))
            else:
                print(f"GET /subscribe answers {st_sub} on this build: not measured")
            pages = {"/unsubscribe.html": page}
            if st_sub == 200:
                pages["/subscribe.html"] = sub_page
            peer = Nginx(pages) if use_peer else None
            if not use_peer:
                print("peer: none (nginx not installed or --no-peer)")
            try:
                print(f"\n## load: `serve --public` on 127.0.0.1, {args.seconds} s per run, "
                      f"peer nginx {'(same bytes from a file)' if peer else 'skipped'}\n")
                print("rate limit as configured: from one address almost every answer is 429 "
                      "(the per-client token bucket); those rows measure the refusing path.\n")
                print("| run | req/s | p50 ms | p99 ms | requests | 2xx | non-2xx "
                      "| socket errors: connect/read/write/timeout "
                      "| ratio to nginx |")
                print("|---|---|---|---|---|---|---|---|---|")
                for label, path in paths:
                    peer_path = "/unsubscribe.html" if "unsub" in path else "/subscribe.html"
                    for t, c in settings:
                        r = wrk(srv.port, path, t, c, args.seconds)
                        pr = wrk(peer.port, peer_path, t, c, args.seconds) if peer else None
                        print(load_row(f"{label}, wrk -t{t} -c{c}, one address", r, pr))
                        if r["requests"] == 0:
                            failures.append(f"no request answered: {label} -t{t} -c{c}")
                    # a proxy's connections all come from its one address:
                    # within max_connections_per_ip (16 by default), and
                    # more with it raised as docs/DEPLOY.md says
                    xff = [(srv, min(c, 16), "")]
                    if proxy_srv:
                        xff.append((proxy_srv, min(c, PROXY_CONNS),
                                    f", max_connections_per_ip = {PROXY_PER_IP}"))
                    t = settings[-1][0]
                    for server, c, how in xff:
                        r = wrk(server.port, path, t, c, args.seconds, script=str(script))
                        pr = wrk(peer.port, peer_path, t, c, args.seconds) if peer else None
                        print(load_row(f"{label}, wrk -t{t} -c{c}, X-Forwarded-For per request "
                                       f"from trusted 127.0.0.1{how}", r, pr))
                    per = 20
                    for conns in sorted({min(settings[-1][1], 100), 50}):
                        r = asyncio.run(spread_load(srv.port, path, conns, args.seconds, per))
                        pr = (asyncio.run(spread_load(peer.port, peer_path, conns, args.seconds, per))
                              if peer else None)
                        print(load_row(f"{label}, Python client, {conns} connections, "
                                       f"{per} requests per source address", r, pr))
                        if r["requests"] == 0:
                            failures.append(f"no request answered: {label} spread {conns}")

                print(f"\n## slowloris: half-open connections from {SLOW_SOURCES[0]}-"
                      f"{SLOW_SOURCES[-1]}, one header line every 5 s; a probe GET from 127.0.0.1 "
                      f"every second, 3 s timeout, {args.slow_seconds} probes\n")
                print("| server | half-open | probes answered | probe p50 ms | probe p99 ms "
                      "| held (median) | reconnects |")
                print("|---|---|---|---|---|---|---|")
                for n in slow_ns:
                    res = slowloris(srv.port, unsub, n, args.slow_seconds, 5, unsub)
                    print(slow_row("tagdigest", n, res))
                    answered = sum(1 for x in res[0] if x is not None)
                    if answered * 2 < len(res[0]):
                        failures.append(f"serve --public answered {answered} of {len(res[0])} "
                                        f"probes under {n} half-open connections")
                    if peer:
                        pres = slowloris(peer.port, "/unsubscribe.html", n, args.slow_seconds,
                                         5, "/unsubscribe.html")
                        print(slow_row("nginx", n, pres))
                    # let the server's timeouts clear what is left
                    time.sleep(1)
                if proxy_srv and use_peer:
                    behind_proxy(proxy_srv, unsub, script, settings, args, failures)
                # the server must still answer after the attack
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if get(srv.port, unsub)[0] in (200, 429):
                            break
                    except OSError:
                        pass
                    if time.monotonic() > deadline:
                        failures.append("serve --public did not answer 30 s after the slowloris runs")
                        break
                    time.sleep(1)
            finally:
                if peer:
                    peer.stop()
        finally:
            for server in (srv, proxy_srv):
                rc = server.stop() if server else 0
                if rc not in (0, -signal.SIGTERM):
                    failures.append(f"serve --public exited {rc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        sys.exit("bench_public: " + "; ".join(failures))


if __name__ == "__main__":
    main()

"""End to end: `tagdigest serve`, the editors' desk and the public
unsubscribe pages, over real HTTP on 127.0.0.1.

Each test starts the real binary on a free loopback port against a site
from write_site(), waits (bounded) until it answers, and stops it with
SIGTERM; a clean exit is part of the test (under `make test` the binary is
the ASan build, whose leak check runs at exit).

Tokens are made here with Python's hmac from a known secret
($TAGDIGEST_TOKEN_SECRET), independently of tagdigest's token code.
"""
import base64
import hashlib
import hmac
import http.client
import os
import pathlib
import re
import signal
import subprocess
import time
import urllib.parse

import pytest

from conftest import (BACKEND, BIN, SUBSCRIBERS, free_port, open_store, parse, run, secret_path,
                      store_dump, write_site)

SECRET = "serve-test-secret-0123456789abcdef"
ENV = {"TAGDIGEST_TOKEN_SECRET": SECRET}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(addr, scope="all", secret=SECRET):
    mac = hmac.new(secret.encode(), f"unsubscribe\n{addr}\n{scope}".encode(),
                   hashlib.sha256).digest()
    return b64(f"{addr}\n{scope}".encode()) + "." + b64(mac)


def prefs_token(addr, secret=SECRET):
    """The preference centre's token (token.h: purpose tokens), never expiring."""
    payload = f"{addr}\n\n0".encode()
    mac = hmac.new(secret.encode(), b"preferences\n" + payload, hashlib.sha256).digest()
    return b64(payload) + "." + b64(mac)


class Server:
    """`tagdigest serve` on a free loopback port, stopped by stop()."""

    def __init__(self, conf, *args, opts=(), env=None):
        self.port = free_port()
        self.log_path = pathlib.Path(conf).parent / f"serve-{self.port}.log"
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(ENV)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [BIN, "-c", str(conf), *opts, "serve", "--listen", f"127.0.0.1:{self.port}", *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}: {self.output()}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/unsubscribe/x")
                c.getresponse().read()
                c.close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("serve did not answer within 20 s")

    def output(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def request(self, method, path, body=None, headers=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, fields, headers=None, **kw):
        body = urllib.parse.urlencode(fields).encode() if isinstance(fields, dict) else fields
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request("POST", path, body=body, headers=h, **kw)

    def stop(self):
        """SIGTERM, wait, kill; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def site(tmp_path):
    conf = write_site(tmp_path, "maildir")
    run(conf, "ingest", check=True, env=ENV)
    return conf


@pytest.fixture
def serve(site):
    servers = []

    def start(*args, conf=site, **kw):
        s = Server(conf, *args, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        rc = s.stop()
        assert rc == 0, f"serve exited {rc} on SIGTERM:\n{s.output()}"


def tdrun(conf, *args, **kw):
    return run(conf, *args, env=ENV, **kw)


def status(conf):
    return tdrun(conf, "status", check=True).stdout.decode()


def sha(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def wait_for(pred, timeout=10.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return pred()


def html_text(body):
    return body.decode("utf-8")


def esc(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


# ---- the desk ----

def test_home_page(serve, site):
    s = serve()
    st, h, body = s.get("/")
    page = html_text(body)
    assert st == 200 and h["content-type"].startswith("text/html")
    assert "script-src 'self'" in h["content-security-policy"]
    assert h["cache-control"] == "no-store"
    assert re.search(r'id="due" data-due="5">Due now: <strong id="due-now">5 readers</strong>', page), page
    # every followed tag, its waiting posts, a sample-reader preview
    for slug_ in ("sergey-lavrov", "nato", "usa", "north-korea", "eu", "weather"):
        assert f"/preview?tag={slug_}" in page
    for addr, _, _ in SUBSCRIBERS:
        assert esc(addr) in page
    # data from posts and subscribers is escaped, never markup
    assert "<script>alert(1)</script>" not in page
    assert esc("NATO “ambitions” & <script>alert(1)</script>") in page
    assert esc("Zoë O'Brien, Esq.") in page
    assert 'id="sources"' in page and "<td>posts</td>" in page
    assert "No digest has been sent or skipped yet." in page
    # after a send, the last run is shown with its counts
    tdrun(site, "send", check=True)
    page = wait_for(lambda: (lambda p: p if "Slot of" in p else None)(html_text(s.get("/")[2])))
    assert page and re.search(r"<strong>4 sent</strong>, 1 skipped", page), page


def test_preview_parts(serve, site):
    store = site.parent / "var" / "store.db"
    def snapshot():   # SQLite: the file's bytes; PostgreSQL: what it holds
        return store_dump(site) if BACKEND == "postgres" else sha(store)
    s = serve()
    before_status = status(site)
    before = snapshot()
    st, h, body = s.get("/preview?to=zoe@example.net")
    page = html_text(body)
    assert st == 200
    # the digest's posts, the subject, the size; escaped
    assert esc("NATO “ambitions” & <script>alert(1)</script>") in page
    assert "Consulate closure in San Francisco" in page
    assert re.search(r'id="subject">Nachrichten Wöchentlich: 3 new posts in NATO and USA<', page)
    m = re.search(r'id="size" data-bytes="(\d+)"', page)
    assert m and 3000 < int(m.group(1)) < 102 * 1024
    assert 'id="size-warning"' not in page
    # the HTML part in a sandboxed frame, without scripts
    frame = re.search(r"<iframe ([^>]*)>", page).group(1)
    assert re.search(r'\bsandbox\b', frame) and "allow-scripts" not in frame
    src = re.search(r'src="([^"]+)"', frame).group(1).replace("&amp;", "&")
    st, h, html_part = s.get(src)
    assert st == 200 and h["content-type"].startswith("text/html")
    csp = h["content-security-policy"]
    assert csp.startswith("sandbox") and "script-src" not in csp and "default-src 'none'" in csp
    # exactly what `preview` gives: the same composer
    want_html = tdrun(site, "preview", "--to", "zoe@example.net", "--format", "html",
                      check=True).stdout
    assert html_part == want_html
    st, h, text_part = s.get("/preview/text?to=zoe%40example.net")
    want_text = tdrun(site, "preview", "--to", "zoe@example.net", "--format", "text",
                      check=True).stdout
    assert st == 200 and h["content-type"].startswith("text/plain")
    assert text_part.replace(b"\r\n", b"\n") == want_text.replace(b"\r\n", b"\n")
    assert esc(text_part.decode()) in page.replace("\r", "")
    # headers and the raw message
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in page
    st, h, raw = s.get("/preview/raw?to=zoe@example.net")
    assert st == 200 and h["content-type"].startswith("text/plain")
    msg = parse(raw)
    assert msg["To"].addresses[0].addr_spec == "zoe@example.net"
    assert msg["Subject"] == "Nachrichten Wöchentlich: 3 new posts in NATO and USA"
    assert abs(len(raw) - int(m.group(1))) < 64      # Date/Message-ID differ per render
    # a sample reader of one tag: a first digest of that tag only
    st, _, body = s.get("/preview?tag=NATO")
    page = html_text(body)
    assert st == 200 and "A sample reader of &ldquo;NATO&rdquo;" in page
    assert "Consulate closure" not in page
    st, _, raw = s.get("/preview/raw?tag=nato")
    assert parse(raw)["To"].addresses[0].addr_spec == "sample.reader@example.invalid"
    # an empty digest says send would skip it
    st, _, body = s.get("/preview?to=nobody-news@example.org")
    assert st == 200 and 'id="empty"' in html_text(body)
    # unknown reader, no reader
    assert s.get("/preview?to=ghost@example.org")[0] == 404
    assert s.get("/preview")[0] == 400
    # nothing in the store changed
    assert snapshot() == before
    assert status(site) == before_status
    assert not list((site.parent / "outbox").glob("new/*")) if (site.parent / "outbox").exists() else True


def test_desk_previews_the_readers_in_the_store(serve, site):
    """Readers the store has and the file does not (added by an editor,
    signed up on the form) are listed and previewed; one nothing would be
    sent to is refused with the reason."""
    tdrun(site, "subscribers", "add", "store.only@example.org", "--tags", "nato",
          "--name", "Store Only", check=True)
    s = serve()
    page = html_text(s.get("/")[2])
    assert esc("store.only@example.org") in page and "Store Only" in page
    assert re.search(r'id="counts">6 active readers', page), page
    for addr, _, _ in SUBSCRIBERS:      # the file's rows not synced yet too
        assert esc(addr) in page
    st, _, body = s.get("/preview?to=store.only%40example.org")
    assert st == 200, body.decode()
    assert re.search(r'id="subject">Nachrichten Wöchentlich: \d+ new posts? in NATO<',
                     html_text(body))
    st, _, raw = s.get("/preview/raw?to=store.only@example.org")
    msg = parse(raw)
    assert st == 200 and msg["To"].addresses[0].addr_spec == "store.only@example.org"
    cli = parse(tdrun(site, "preview", "--to", "store.only@example.org", check=True).stdout)
    assert msg["Message-ID"] == cli["Message-ID"]
    tdrun(site, "subscribers", "remove", "store.only@example.org", check=True)
    st, _, body = s.get("/preview?to=store.only@example.org")
    assert st == 409 and "store.only@example.org is unsubscribed" in html_text(body)
    assert s.get("/preview/raw?to=store.only@example.org")[0] == 409
    st, _, body = s.get("/preview?to=ghost@example.org")
    assert st == 404 and "neither in the store nor in" in html_text(body)


def test_size_warning_above_gmail_clip(tmp_path):
    conf = write_site(tmp_path, "maildir")
    long_para = " ".join(["Lorem ipsum dolor sit amet consectetur."] * 130)
    for i in range(40):
        (tmp_path / "posts" / f"big{i:02}.md").write_text(
            f"---\ntitle: Big post {i}\ndate: 2026-11-2{i % 6}T09:00:00Z\ntags: [NATO]\n"
            f"url: https://news.test/p/big{i}/\nauthor: Desk\n---\n{long_para}\n",
            encoding="utf-8")
    opts = ("-o", "digest.excerpt_chars=5000", "-o", "digest.max_posts=100")
    run(conf, *opts, "ingest", check=True, env=ENV)
    s = Server(conf, opts=opts)
    try:
        st, _, body = s.get("/preview?to=zoe@example.net")
        page = html_text(body)
        assert st == 200
        size = int(re.search(r'data-bytes="(\d+)"', page).group(1))
        assert size > 102 * 1024
        assert 'id="size-warning"' in page and "Gmail clips" in page
    finally:
        assert s.stop() == 0, s.output()


def test_live_reload_templates_and_posts(serve, site):
    s = serve()
    root = site.parent
    v0 = s.get("/version")[2].decode().strip()
    assert re.fullmatch(r"[0-9a-f]{16}", v0)
    assert s.get("/version")[2].decode().strip() == v0       # stable while nothing changes

    # a template edit shows in the next preview, and moves the version
    txt = root / "templates" / "digest.txt.mustache"
    txt.write_text(txt.read_text(encoding="utf-8") + "\nMARKERWORD-TXT\n", encoding="utf-8")
    got = wait_for(lambda: b"MARKERWORD-TXT" in s.get("/preview/text?to=zoe@example.net")[2],
                   timeout=5)
    assert got
    v1 = s.get("/version")[2].decode().strip()
    assert v1 != v0

    # a template error is a readable page naming file, line and column
    html = root / "templates" / "digest.html.mustache"
    good = html.read_text(encoding="utf-8")
    html.write_text("<p>\n{{#sections}}\nunclosed\n", encoding="utf-8")
    st, _, body = wait_for(lambda: (lambda r: r if r[0] == 500 else None)(
        s.get("/preview?to=zoe@example.net")), timeout=5)
    page = html_text(body)
    assert "Template error" in page
    assert "digest.html.mustache" in page
    assert re.search(r"line \d+, column \d+", page), page
    assert "sections" in page
    assert '<meta name="td-version"' in page              # it reloads itself once fixed
    st, _, body = s.get("/")
    assert st == 200 and "The templates do not load" in html_text(body)
    html.write_text(good, encoding="utf-8")
    assert wait_for(lambda: s.get("/preview?to=zoe@example.net")[0] == 200, timeout=5)

    # a new post file is ingested (under the run lock) and shows up
    (root / "posts" / "g.md").write_text(
        "---\ntitle: Fresh NATO news\ndate: 2026-11-27T10:00:00Z\ntags: [NATO]\n"
        "url: https://news.test/p/g/\nauthor: Desk\n---\nBody of the fresh post.\n",
        encoding="utf-8")
    assert wait_for(lambda: b"Fresh NATO news" in s.get("/preview?to=zoe@example.net")[2],
                    timeout=5)
    assert "Fresh NATO news" in html_text(s.get("/")[2])
    # an edited post is updated in place
    post = root / "posts" / "e.md"
    post.write_text(post.read_text(encoding="utf-8").replace(
        "Consulate closure in San Francisco", "Consulate closure, edited"), encoding="utf-8")
    assert wait_for(lambda: b"Consulate closure, edited" in
                    s.get("/preview/text?to=zoe@example.net")[2], timeout=5)
    # while a run holds the lock, the ingest waits for it: the lock file
    # beside SQLite's store, PostgreSQL's ingest advisory lock (store/lock.c)
    if BACKEND == "postgres":
        lock = open_store(root)
        lock.execute("SELECT pg_advisory_lock(7031502)")
    else:
        lock = subprocess.Popen(["flock", "-x", str(root / "var" / "store.db.lock"),
                                 "sleep", "3"])
    try:
        time.sleep(0.3)
        post.write_text(post.read_text(encoding="utf-8").replace(
            "Consulate closure, edited", "Consulate closure, again"), encoding="utf-8")
        time.sleep(0.8)
        assert b"Consulate closure, again" not in s.get("/preview/text?to=zoe@example.net")[2]
    finally:
        if BACKEND == "postgres":
            lock.close()          # the session's end lets its lock go
        else:
            lock.wait(timeout=10)
    assert wait_for(lambda: b"Consulate closure, again" in
                    s.get("/preview/text?to=zoe@example.net")[2], timeout=5)


def test_desk_pages_are_templates(serve, site):
    """The desk's pages come from templates/desk/: an edit shows on the
    next request, values are HTML-escaped by {{ }}, and a broken page is
    an error naming file and line until it is fixed."""
    s = serve()
    home = site.parent / "templates" / "desk" / "home.mustache"
    good = home.read_text(encoding="utf-8")
    home.write_text(good.replace("<h1>{{site_name}}</h1>",
                                 "<h1 id=\"restyled\">{{site_name}} {{title}}</h1>"),
                    encoding="utf-8")
    got = wait_for(lambda: (lambda b: b if b'id="restyled"' in b else None)(s.get("/")[2]),
                   timeout=5)
    assert got, s.get("/")[2]
    assert b'<h1 id="restyled">' in got and b"Home</h1>" in got
    # so is its style sheet
    css = site.parent / "templates" / "desk" / "desk.css"
    css.write_text(css.read_text(encoding="utf-8") + "\n.restyled{color:red}\n", encoding="utf-8")
    def restyled_css():
        s.get("/")                          # the desk looks at its files on a page request
        st, _, body = s.get("/static/desk.css")
        return body if st == 200 and b".restyled{color:red}" in body else None
    body = wait_for(restyled_css, timeout=5)
    assert body and b"#live::before" in body
    # a hostile title stays text: {{ }} escapes what a template shows
    hostile = "<script>alert(1)</script> & \"q\" 'x'"
    (site.parent / "posts" / "h.md").write_text(
        "---\ntitle: '" + hostile.replace("'", "''") + "'\ndate: 2026-11-27T10:00:00Z\n"
        "tags: [NATO]\nurl: https://news.test/p/h/\nauthor: Desk\n---\nBody.\n",
        encoding="utf-8")
    body = wait_for(lambda: (lambda b: b if esc(hostile).encode() in b else None)(
        s.get("/")[2]), timeout=5)
    assert body, s.get("/")[2]
    assert b"<script>alert" not in body
    # broken: every page says which file and where, and no 200 with half a page
    home.write_text("{{<page}}{{$main}}{{#tags}}unclosed{{/main}}{{/page}}\n", encoding="utf-8")
    st, _, body = wait_for(lambda: (lambda r: r if r[0] == 500 else None)(s.get("/")), timeout=5)
    assert st == 500
    page = html_text(body)
    assert "home.mustache:1:" in page, page
    home.write_text(good, encoding="utf-8")
    st, _, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(s.get("/")), timeout=5)
    assert st == 200 and 'id="due"' in body.decode()


# ---- unsubscribe ----

BAD_TOKENS = [
    token("zoe@example.net", "all", secret="some-other-secret-0123456789"),  # forged
    token("zoe@example.net")[:-1],                                         # truncated
    token("zoe@example.net")[:20],
    token("zoe@example.net").split(".")[0],                                # no signature
    "." + token("zoe@example.net").split(".")[1],
    "not-a-token",
    "x" * 3000,
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%00",
    "%F0%9F%92%A9.abc",
    b64(b"zoe@example.net\nall") + ".!!!!",
    token("evil@example.net\r\nBcc: x@example.org"),                       # forged too
]


def test_unsubscribe_get_never_acts(serve, site):
    s = serve()
    before = status(site)
    tok = token("zoe@example.net")
    for method in ("GET", "HEAD"):
        st, h, body = s.request(method, f"/unsubscribe/{tok}")
        assert st == 200
    st, h, body = s.get(f"/unsubscribe/{tok}")
    page = html_text(body)
    assert '<form method="post">' in page and page.count("<button") == 1
    assert "zoe@example.net" in page
    assert h["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in h["content-security-policy"]
    assert status(site) == before
    assert "Suppressions (0)" in before


def test_bad_tokens_get_one_answer(serve, site):
    s = serve()
    bodies = set()
    for bad in BAD_TOKENS:
        st, h, body = s.get(f"/unsubscribe/{bad}")
        assert st == 400, bad
        bodies.add(body)
        st, h, body = s.post(f"/unsubscribe/{bad}", {"List-Unsubscribe": "One-Click"})
        assert st == 400, bad
        bodies.add(body)
    st, _, body = s.get("/unsubscribe/")
    assert st == 400
    bodies.add(body)
    # a valid token without a request in the body: the same 400
    st, _, body = s.post(f"/unsubscribe/{token('zoe@example.net')}", b"")
    assert st == 400
    bodies.add(body)
    assert len(bodies) == 1, bodies
    body = bodies.pop().decode()
    assert "zoe" not in body and "signature" not in body.lower()
    assert "Suppressions (0)" in status(site)


def test_one_click_unsubscribe_and_next_send(serve, site):
    s = serve()
    tok = token("zoe@example.net")
    # RFC 8058: no cookies, no redirect, 200 at once
    st, h, body = s.post(f"/unsubscribe/{tok}", "List-Unsubscribe=One-Click")
    assert st == 200 and "location" not in h and "set-cookie" not in h
    assert "You are unsubscribed" in html_text(body)
    out = status(site)
    assert re.search(r"zoe@example\.net\s+all\s+unsubscribed .*: one-click", out), out
    # repeats are harmless
    for _ in range(3):
        assert s.post(f"/unsubscribe/{tok}", "List-Unsubscribe=One-Click")[0] == 200
    assert status(site).count("zoe@example.net                  all") == 1
    # multipart/form-data one-click (RFC 8058 allows it) and the page's form
    boundary = "xYzZy"
    mp = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
          f"One-Click\r\n--{boundary}--\r\n").encode()
    st, _, _ = s.request("POST", f"/unsubscribe/{token('juergen@example.org')}", body=mp,
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert st == 200
    st, _, _ = s.post(f"/unsubscribe/{token('li@example.com', 'usa')}", {"confirm": "yes"})
    assert st == 200
    out = status(site)
    assert re.search(r"juergen@example\.org\s+all\s+unsubscribed .*: one-click", out), out
    assert re.search(r"li@example\.com\s+usa\s+unsubscribed .*: form", out), out
    # the very next send skips them: zoe and juergen get nothing, li only north-korea
    p = tdrun(site, "send", check=True)
    msgs = [parse(f.read_bytes()) for f in (site.parent / "outbox" / "new").iterdir()]
    to = {m["To"].addresses[0].addr_spec: m for m in msgs}
    assert "zoe@example.net" not in to and "juergen@example.org" not in to
    li_text = to["li@example.com"].get_body(("plain",)).get_content()
    assert "Pyongyang" in li_text and "Consulate closure" not in li_text
    assert "2 sent" in p.stdout.decode(), p.stdout


def test_token_for_a_tag_no_longer_followed(serve, site):
    """A tag token outlives the subscriber's interest in the tag: still
    valid, and acting on it changes nothing they receive."""
    s = serve()
    tok = token("zoe@example.net", "iran")
    assert s.get(f"/unsubscribe/{tok}")[0] == 200
    assert "Iran" in html_text(s.get(f"/unsubscribe/{tok}")[2])
    assert s.post(f"/unsubscribe/{tok}", {"List-Unsubscribe": "One-Click"})[0] == 200
    assert re.search(r"zoe@example\.net\s+iran\s+unsubscribed", status(site))
    page = html_text(s.get("/preview?to=zoe@example.net")[2])
    assert "3 new posts in NATO and USA" in page
    # and a subscriber who left the file altogether: harmless as well
    assert s.post(f"/unsubscribe/{token('gone@example.org')}",
                  {"List-Unsubscribe": "One-Click"})[0] == 200


def test_per_tag_link_leaves_one_tag(serve, site):
    """Each section's "unsubscribe from this tag" link (sections[].
    tag_unsubscribe_url) leaves that tag only; the other sections stay."""
    s = serve()
    text = s.get("/preview/text?to=zoe@example.net")[2].decode()
    assert "Unsubscribe from NATO only" in text, text
    html = s.get("/preview/html?to=zoe@example.net")[2].decode()
    tok = token("zoe@example.net", "nato")
    assert f"https://news.test/unsubscribe/{tok}" in text
    assert f'href="https://news.test/unsubscribe/{tok}"' in html
    page = html_text(s.get(f"/unsubscribe/{tok}")[2])
    assert "&ldquo;NATO&rdquo; section" in page
    assert s.post(f"/unsubscribe/{tok}", {"List-Unsubscribe": "One-Click"})[0] == 200
    assert wait_for(lambda: "2 new posts in USA" in html_text(
        s.get("/preview?to=zoe@example.net")[2]), timeout=5)


def test_oversized_and_odd_requests(serve, site):
    s = serve()
    tok = token("zoe@example.net")
    big = b"List-Unsubscribe=One-Click&pad=" + b"x" * 9000
    st, _, _ = s.post(f"/unsubscribe/{tok}", big)
    assert st == 413
    st, _, _ = s.post("/test-send", big)
    assert st == 413
    # chunked, so the size is only seen on the way: the connection is dropped
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    try:
        c.putrequest("POST", f"/unsubscribe/{tok}")
        c.putheader("Transfer-Encoding", "chunked")
        c.putheader("Content-Type", "application/x-www-form-urlencoded")
        c.endheaders()
        chunk = b"x" * 4096
        try:
            for _ in range(4):
                c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            c.send(b"0\r\n\r\n")
            got = c.getresponse().status
        except (ConnectionError, http.client.HTTPException, OSError):
            got = None
        assert got != 200
    finally:
        c.close()
    assert "Suppressions (0)" in status(site)
    # methods, hosts
    assert s.request("PUT", "/")[0] == 405
    assert s.request("DELETE", f"/unsubscribe/{tok}")[0] == 405
    assert s.get("/", headers={"Host": "evil.example"})[0] == 421
    assert s.get("/nothing-here")[0] == 404
    assert s.post("/preview", {"to": "zoe@example.net"})[0] == 405


# ---- send a test ----

def desk_for_test_sends(tmp_path, sink):
    """A desk over an ingested site that sends through sink: the config,
    the server, its origin and the CSRF token of zoe's preview page."""
    conf = write_site(tmp_path, "smtp", sink.url)
    run(conf, "ingest", check=True, env=ENV)
    s = Server(conf)
    try:
        page = html_text(s.get("/preview?to=zoe@example.net")[2])
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
    except BaseException:
        s.stop()
        raise
    return conf, s, f"http://127.0.0.1:{s.port}", csrf


def test_test_send_csrf_and_delivery(tmp_path, sink):
    conf, s, origin, csrf = desk_for_test_sends(tmp_path, sink)
    try:
        fields = {"csrf": csrf, "to": "zoe@example.net", "address": "editor@desk.example"}
        # cross-site: refused whatever else is right
        for headers in ({"Origin": "http://evil.example"},
                        {"Origin": "null"},
                        {"Referer": "http://evil.example/page"},
                        {"Origin": origin, "Sec-Fetch-Site": "cross-site"},
                        {"Origin": origin, "Sec-Fetch-Site": "same-site"},
                        {}):
            st, _, _ = s.post("/test-send", fields, headers=headers)
            assert st == 403, headers
        st, _, _ = s.post("/test-send", dict(fields, csrf="0" * 64), headers={"Origin": origin})
        assert st == 403
        st, _, _ = s.post("/test-send", {k: v for k, v in fields.items() if k != "csrf"},
                          headers={"Origin": origin})
        assert st == 403
        assert sink.messages() == []
        # a bad address
        st, _, body = s.post("/test-send", dict(fields, address="not an address"),
                             headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert st == 400
        # same-origin, with the token: sent
        st, _, body = s.post("/test-send", fields,
                             headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert st == 200, body
        assert "Test sent" in html_text(body)
        # a Referer of ours is enough when a browser sends no Origin
        st, _, _ = s.post("/test-send", dict(fields, address="second@desk.example"),
                          headers={"Referer": origin + "/preview?to=zoe@example.net"})
        assert st == 200
        msgs = wait_for(lambda: (lambda m: m if len(m) == 2 else None)(sink.messages()), 10)
        assert msgs and len(msgs) == 2
        rcpts, msg, _ = msgs[0] if msgs[0][0] == ["editor@desk.example"] else msgs[1]
        assert rcpts == ["editor@desk.example"]
        assert msg["Subject"].startswith("[TEST] Nachrichten Wöchentlich: 3 new posts")
        assert msg["To"].addresses[0].addr_spec == "editor@desk.example"
        # the unsubscribe links are the test address's own, never zoe's
        body_text = msg.get_body(("plain",)).get_content()
        body_html = msg.get_body(("html",)).get_content()
        for scope in ("all", "nato", "usa"):
            assert token("zoe@example.net", scope) not in body_text + body_html
        assert token("editor@desk.example") in body_text
        assert token("editor@desk.example") in msg["List-Unsubscribe"]
        # and so is the link to the preference centre
        assert prefs_token("zoe@example.net") not in body_text + body_html
        assert prefs_token("editor@desk.example") in body_text
        assert prefs_token("editor@desk.example") in body_html
        # its own Message-ID: a client that drops duplicates must never
        # take zoe's real digest for the test copy, nor the two copies
        # for one another
        real = parse(s.get("/preview/raw?to=zoe@example.net")[2])
        other = msgs[1][1] if msgs[0][1] is msg else msgs[0][1]
        assert msg["Message-ID"] and real["Message-ID"]
        assert len({msg["Message-ID"], other["Message-ID"], real["Message-ID"]}) == 3
        # a sample reader's digest can be sent as a test too
        st, _, _ = s.post("/test-send", {"csrf": csrf, "tag": "usa",
                                         "address": "editor@desk.example"},
                          headers={"Origin": origin})
        assert st == 200
        # nothing recorded: no delivery, no last digest
        out = run(conf, "status", check=True, env=ENV).stdout.decode()
        line = [l for l in out.splitlines() if "zoe@example.net" in l][0]
        assert re.search(r"\snever\s+due now\s", line), line
        assert "All time: 0 sent, 0 skipped." in html_text(s.get("/")[2])
    finally:
        assert s.stop() == 0, s.output()


def test_test_send_waits_for_the_page_that_says_sent(tmp_path, sink):
    """While the desk's pages are broken, a test send sends nothing: a
    copy that went out under a page saying the templates failed would be
    sent again by an editor who believed it."""
    _, s, origin, csrf = desk_for_test_sends(tmp_path, sink)
    try:
        sent_page = tmp_path / "templates" / "desk" / "sent.mustache"
        good = sent_page.read_text(encoding="utf-8")
        sent_page.unlink()
        assert wait_for(lambda: s.get("/")[0] == 500, 5), s.get("/")
        fields = {"csrf": csrf, "to": "zoe@example.net", "address": "first@desk.example"}
        headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
        st, _, body = s.post("/test-send", fields, headers=headers)
        assert st == 500, body
        assert "sent.mustache" in html_text(body)
        # fixed: the next test goes out, and it is the only message the
        # sink ever got
        sent_page.write_text(good, encoding="utf-8")
        assert wait_for(lambda: s.get("/")[0] == 200, 5)
        st, _, body = s.post("/test-send", dict(fields, address="second@desk.example"),
                             headers=headers)
        assert st == 200, body
        msgs = wait_for(lambda: sink.messages() or None, 10)
        assert [m[0] for m in msgs] == [["second@desk.example"]]
    finally:
        assert s.stop() == 0, s.output()


# ---- public mode ----

def test_public_mode_serves_only_unsubscribe(serve, site):
    s = serve("--public")
    for path in ("/", "/preview?to=zoe@example.net", "/preview/html?to=zoe@example.net",
                 "/preview/raw?to=zoe@example.net", "/version", "/static/desk.js",
                 "/static/desk.css", "/favicon.ico"):
        st, _, body = s.get(path)
        assert st == 404, path
        assert b"zoe" not in body
    assert s.post("/test-send", {"address": "x@example.org"})[0] == 404
    # any Host is fine here: a proxy forwards the public name
    tok = token("zoe@example.net")
    st, _, body = s.get(f"/unsubscribe/{tok}", headers={"Host": "news.test"})
    assert st == 200 and "<button" in html_text(body)
    assert s.post(f"/unsubscribe/{tok}", {"List-Unsubscribe": "One-Click"})[0] == 200
    assert "one-click" in status(site)


def test_public_mode_rate_limit(serve):
    s = serve("--public")
    seen = []
    for _ in range(90):
        st, h, _ = s.get("/unsubscribe/not-a-token")
        seen.append(st)
        if st == 429:
            assert int(h["retry-after"]) > 0
            break
    assert 429 in seen, seen
    assert set(seen) <= {400, 429}


def test_public_mode_needs_the_existing_secret(tmp_path):
    conf = write_site(tmp_path, "maildir")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TAGDIGEST_TOKEN_SECRET"}
    p = subprocess.run([BIN, "-c", str(conf), "serve", "--public", "--listen",
                        f"127.0.0.1:{port}"], capture_output=True, timeout=30, env=env)
    assert p.returncode != 0 and b"secret" in p.stderr
    assert not secret_path(tmp_path).exists()


def test_editor_desk_stays_on_loopback(tmp_path):
    conf = write_site(tmp_path, "maildir")
    p = subprocess.run([BIN, "-c", str(conf), "serve", "--listen", f"0.0.0.0:{free_port()}"],
                       capture_output=True, timeout=30, env=dict(os.environ, **ENV))
    assert p.returncode == 64 and b"loopback" in p.stderr
    p = subprocess.run([BIN, "-c", str(conf), "serve", "--listen", "nonsense"],
                       capture_output=True, timeout=30, env=dict(os.environ, **ENV))
    assert p.returncode == 64


def test_listen_is_checked_before_the_config(tmp_path):
    # the command line reads the config for serve now; a bad --listen must
    # still be the error reported, as when serve read the config itself
    missing = tmp_path / "no-such.conf"
    p = subprocess.run([BIN, "-c", str(missing), "serve", "--listen", "0.0.0.0:8025"],
                       capture_output=True, timeout=30, env=dict(os.environ, **ENV))
    assert p.returncode == 64, p.stderr
    assert b"loopback" in p.stderr and b"no-such.conf" not in p.stderr
    # with a good address, the missing config is what is reported
    p = subprocess.run([BIN, "-c", str(missing), "serve", "--listen",
                        f"127.0.0.1:{free_port()}"],
                       capture_output=True, timeout=30, env=dict(os.environ, **ENV))
    assert p.returncode == 66 and b"no-such.conf" in p.stderr, p.stderr

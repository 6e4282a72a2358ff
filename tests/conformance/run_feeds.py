#!/usr/bin/python3
"""Feed conformance: tagdigest's feed parser against feedparser's own tests.

The cases are feedparser's test documents (../shared/testdata/feeds, see
its MANIFEST.md). Each carries a Python expression ("Expect") that
feedparser evaluates against its parse result. This runner parses every
document with `tagdigest feed-dump` (which prints feedparser's data model as
JSON), wraps the JSON in a dict with feedparser's key aliases and attribute
access, and evaluates the same expression, plus the harness rules the
MANIFEST lists (wellformed/** must not be bozo, entities/** must be).

Cases whose path contains "http" are fetched, as upstream's harness does:
a loopback HTTP server started here serves each one with the headers its
comment declares, and `tagdigest feed-dump URL` reads it through the same
fetch path as a subscribed feed (base URL from Content-Location or the
final URL, charset from Content-Type).

A document tagdigest refuses (exit 65: not XML, not a feed, declares
entities) is taken as feedparser's answer to such documents: bozo set,
nothing else found.

Cases that test what a digest never uses, and deliberate deviations, are
listed below in NOT_APPLICABLE with their reasons and counted as n/a.

    TAGDIGEST_BIN=build/tagdigest TESTDATA=../shared/testdata \\
        /usr/bin/python3 tests/conformance/run_feeds.py [--markdown] [-v]

Exit status: 0 when every applicable case passes (or the data is absent:
then a loud SKIPPED line), 1 otherwise.
"""

import ast
import html
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from html.parser import HTMLParser

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where upstream's harness serves the http cases; their Expect texts name it.
UPSTREAM_ORIGIN = "http://127.0.0.1:8097"

# Each entry: case path -> why it does not count. Each is a deliberate
# difference from feedparser that a reader of a digest is better off with
# (docs/CONFORMANCE.md); none loses a post's text or a working link. The
# cases are still run: one that passes is a failure until it is taken off
# this list, so the list cannot hide a case that works.
NOT_APPLICABLE = {
    # dates (date.h)
    "wellformed/date/channel_pubDate_mssql.xml":
        "deviation (date.h): a date without a zone is read as UTC; feedparser "
        "assumes +09:00 for this format (from its Korean date parser), which "
        "would move a post nine hours",
    "wellformed/date/channel_pubDate_mssql_nofraction.xml":
        "deviation (date.h): a date without a zone is read as UTC; feedparser "
        "assumes +09:00 for this format (from its Korean date parser), which "
        "would move a post nine hours",
    # the sanitizer (html.h)
    "wellformed/atom10/missing_quote_in_attr.xml":
        "deviation (html.h): a URL is written as a URI, with what a URI cannot "
        "hold percent-encoded (http://example.com/%22): the same address, "
        "followed alike by every mail client",
    "wellformed/base/rel_uri_with_unicode_character.xml":
        "deviation (html.h): a URL is written as a URI, with what a URI cannot "
        "hold percent-encoded (http://any.test/%C3%80): the same address, "
        "followed alike by every mail client; resolution itself passes",
    "wellformed/rss/item_description_not_a_doctype.xml":
        "deviation (html.h): href=\"foo\" with no base cannot be made an "
        "absolute http(s) URL, and a relative link in a mail goes nowhere, so "
        "the (empty) anchor goes; in a digest every feed has a base",
    "wellformed/rss/item_description_not_a_doctype2.xml":
        "deviation (html.h): an unterminated '<!DOCTYPE' in HTML is a bogus "
        "doctype to a browser, which shows nothing; feedparser passes the "
        "broken markup on",
    "wellformed/sanitize/entry_content_crazy.xml":
        "deviation (html.h): a script goes with its source, and comments and "
        "the document head's title go; feedparser keeps the script's source "
        "and the comments as text, which is not the post",
}

KEYMAP = {
    "channel": "feed",
    "items": "entries",
    "guid": "id",
    "date": "updated",
    "date_parsed": "updated_parsed",
    "description": ["summary", "subtitle"],
    "description_detail": ["summary_detail", "subtitle_detail"],
    "url": ["href"],
    "modified": "updated",
    "modified_parsed": "updated_parsed",
    "issued": "published",
    "issued_parsed": "published_parsed",
    "copyright": "rights",
    "copyright_detail": "rights_detail",
    "tagline": "subtitle",
    "tagline_detail": "subtitle_detail",
}


class FPDict(dict):
    """feedparser's FeedParserDict lookups over plain JSON data."""

    def __getitem__(self, key):
        if key == "category":
            try:
                return dict.__getitem__(self, "tags")[0]["term"]
            except (KeyError, IndexError):
                raise KeyError("object doesn't have key 'category'")
        if key == "enclosures":
            return [FPDict((k, v) for k, v in link.items() if k != "rel")
                    for link in dict.get(self, "links", [])
                    if link.get("rel") == "enclosure"]
        if key == "license":
            for link in dict.get(self, "links", []):
                if link.get("rel") == "license" and "href" in link:
                    return link["href"]
        real = KEYMAP.get(key, key)
        if real in ("updated", "updated_parsed"):
            # the MANIFEST's rule: updated falls back to published
            if not dict.__contains__(self, real):
                alt = "published" + real[len("updated"):]
                if dict.__contains__(self, alt):
                    return dict.__getitem__(self, alt)
            return dict.__getitem__(self, real)
        if isinstance(real, list):
            for k in real:
                if dict.__contains__(self, k):
                    return dict.__getitem__(self, k)
        elif dict.__contains__(self, real):
            return dict.__getitem__(self, real)
        return dict.__getitem__(self, key)

    def __contains__(self, key):
        if key in ("updated", "updated_parsed"):
            return dict.__contains__(self, key)
        try:
            self.__getitem__(key)
        except KeyError:
            return False
        return True

    has_key = __contains__

    def get(self, key, default=None):
        try:
            return self.__getitem__(key)
        except KeyError:
            return default

    def __getattr__(self, key):
        try:
            return self.__getitem__(key)
        except KeyError:
            raise AttributeError("object has no attribute '%s'" % key)


def wrap(value, key=""):
    if isinstance(value, dict):
        return FPDict((k, wrap(v, k)) for k, v in value.items())
    if isinstance(value, list):
        if key.endswith("_parsed"):
            return tuple(value)
        return [wrap(v) for v in value]
    return value


def read_cases(testdata):
    path = os.path.join(testdata, "feeds", "cases.tsv")
    cases = []
    with open(path, encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            name, description, expect = line.split("\t", 2)
            cases.append((name, description, expect))
    return cases


def headers_of(data):
    """The response headers a case declares ("Header: Name: value" lines of
    its leading comment), in order, with upstream's default Content-Type
    (text/xml) when it declares none."""
    text = data.decode("utf-8", "replace")
    m = re.search(r"<!--(.*?)-->", text, re.S)
    headers = []
    if m:
        for line in m.group(1).splitlines():
            h = re.match(r"\s*Header:\s*([^:]+?):\s*(.*?)\s*$", line)
            if h:
                headers.append((h.group(1), h.group(2)))
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "text/xml"))
    return headers


class CaseServer:
    """Serves the http cases on 127.0.0.1, as upstream's harness does: GET
    /tests/<case> answers with the file and the headers it declares. Only
    the cases it was given are served. Each connection times out after 10 s;
    stop() ends the server."""

    def __init__(self, feeds_dir, names):
        served = {"/tests/" + n: os.path.join(feeds_dir, n) for n in names}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def do_GET(self):
                path = served.get(self.path)
                if path is None:
                    self.send_error(404)
                    return
                with open(path, "rb") as fh:
                    data = fh.read()
                self.send_response(200)
                for k, v in headers_of(data):
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def run_case(binary, feeds_dir, name, server=None):
    """Parses one case; returns (namespace for eval, note). An http case
    goes through the fetch path: feed-dump gets its URL on `server`."""
    path = os.path.join(feeds_dir, name)
    with open(path, "rb") as fh:
        data = fh.read()
    headers = {k.lower(): v for k, v in headers_of(data)}
    cmd = [binary, "feed-dump"]
    if server is not None:
        cmd.append(server.origin + "/tests/" + name)
    else:
        cmd.append(path)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60)
    err = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode == 0:
        try:
            result = json.loads(proc.stdout.decode("utf-8"))
        except ValueError as e:
            return None, "feed-dump printed invalid JSON: %s" % e
        note = ""
    elif proc.returncode == 65:
        # refused: what feedparser reports for a document it cannot use
        result = {"bozo": 1, "bozo_exception": err, "version": "",
                  "encoding": "", "feed": {}, "entries": []}
        note = "refused: " + err
    else:
        return None, "feed-dump exited %d: %s" % (proc.returncode, err[-600:])
    if err and proc.returncode == 0:
        # the sanitizers print to stderr and may still exit 0
        if "Sanitizer" in err or "runtime error" in err:
            return None, "sanitizer report: " + err[-600:]
    ns = {
        "feed": wrap(result.get("feed", {})),
        "entries": wrap(result.get("entries", [])),
        "bozo": result.get("bozo", 0),
        "bozo_exception": result.get("bozo_exception", ""),
        "version": result.get("version", ""),
        "encoding": result.get("encoding", ""),
        "headers": headers,
    }
    return ns, note


SAFE_BUILTINS = {"len": len, "ord": ord, "None": None, "True": True,
                 "False": False, "str": str, "int": int}

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "param", "source", "track", "wbr"}


class _Canon(HTMLParser):
    """One spelling for one HTML tree: sorted attributes, double quotes,
    characters instead of character references, void elements without a
    slash or an end tag, and without the rel="noopener noreferrer" that
    html.h adds to every link."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []

    def handle_starttag(self, tag, attrs):
        kept = sorted((k, v or "") for k, v in attrs
                      if not (tag == "a" and k == "rel" and v == "noopener noreferrer"))
        self.out.append("<%s%s>" % (tag, "".join(
            ' %s="%s"' % (k, html.escape(v, quote=True)) for k, v in kept)))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.out.append("</%s>" % tag)

    def handle_endtag(self, tag):
        if tag not in VOID:
            self.out.append("</%s>" % tag)

    def handle_data(self, data):
        self.out.append(html.escape(data, quote=False))

    def handle_comment(self, data):
        self.out.append("<!--%s-->" % data)

    def handle_decl(self, decl):
        self.out.append("<!%s>" % decl)


def html_canon(value):
    if not isinstance(value, str):
        return value
    parser = _Canon()
    parser.feed(value)
    parser.close()
    return "".join(parser.out)


class _AsHTML(ast.NodeTransformer):
    """Rewrites every comparison to compare html_canon() of its operands."""

    def visit_Compare(self, node):
        self.generic_visit(node)

        def wrap_op(op):
            return ast.Call(func=ast.Name(id="_html", ctx=ast.Load()),
                            args=[op], keywords=[])
        node.left = wrap_op(node.left)
        node.comparators = [wrap_op(c) for c in node.comparators]
        return node


def evaluate(expr, ns, as_html=False):
    if not as_html:
        return eval(expr, {"__builtins__": SAFE_BUILTINS}, dict(ns))
    tree = _AsHTML().visit(ast.parse(expr, mode="eval"))
    code = compile(ast.fix_missing_locations(tree), "<expect>", "eval")
    env = dict(ns)
    env["_html"] = html_canon
    return eval(code, {"__builtins__": SAFE_BUILTINS}, env)


def explain(expr, ns):
    """The values of each comparison's operands, to show what was got."""
    parts = []
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left] + list(node.comparators)
            for op in operands:
                if isinstance(op, ast.Constant):
                    continue
                src = ast.unparse(op)
                try:
                    val = evaluate(src, ns)
                except Exception as e:  # noqa: BLE001 - shown to the reader
                    val = "<%s: %s>" % (type(e).__name__, e)
                parts.append("%s = %r" % (src, val))
    if not parts:
        parts.append("bozo = %r" % ns["bozo"])
    return "; ".join(parts)


def folder_of(name):
    return os.path.dirname(name)


def main(argv):
    markdown = "--markdown" in argv
    verbose = "-v" in argv
    testdata = os.environ.get("TESTDATA") or os.path.join(REPO, "..", "shared", "testdata")
    testdata = os.path.abspath(testdata)
    feeds_dir = os.path.join(testdata, "feeds")
    if not os.path.isfile(os.path.join(feeds_dir, "cases.tsv")):
        print("feed-conformance: SKIPPED -- no test data at %s "
              "(set TESTDATA to the shared testdata folder)" % feeds_dir)
        print("feed-conformance: 0 passed, 0 failed, 0 n/a (SKIPPED)")
        return 0
    binary = os.environ.get("TAGDIGEST_BIN") or os.path.join(REPO, "build", "tagdigest")
    if not os.access(binary, os.X_OK):
        print("feed-conformance: %s is not an executable; build it first" % binary)
        return 1

    cases = read_cases(testdata)
    server = CaseServer(feeds_dir, [n for n, _, _ in cases if is_http_case(n)])
    try:
        return report(run_all(binary, feeds_dir, cases, server, verbose),
                      markdown, verbose)
    finally:
        server.stop()


def is_http_case(name):
    # upstream's rule: a case whose path contains "http" is fetched
    return "http" in name


def run_all(binary, feeds_dir, cases, server, verbose):
    tally = {}
    failures = []
    as_html = []
    for name, description, expect in cases:
        folder = folder_of(name)
        row = tally.setdefault(folder, [0, 0, 0, 0])
        if is_http_case(name):
            ns, note = run_case(binary, feeds_dir, name, server)
            # the Expect text names upstream's server; ours is elsewhere
            expect = expect.replace(UPSTREAM_ORIGIN, server.origin)
        else:
            ns, note = run_case(binary, feeds_dir, name)
        problem = None
        via_html = False
        if ns is None:
            problem = note
        else:
            try:
                ok = bool(evaluate(expect, ns))
                if not ok and bool(evaluate(expect, ns, as_html=True)):
                    # same HTML, spelt differently (see html_canon)
                    ok = True
                    via_html = True
            except Exception as e:  # noqa: BLE001 - a missing key is a failure
                ok = False
                problem = "%s: %s" % (type(e).__name__, e)
            if ok and name.startswith("wellformed/") and ns["bozo"]:
                ok = False
                problem = "bozo set on a well-formed document: %s" % ns["bozo_exception"]
            if ok and name.startswith("entities/") and not ns["bozo"]:
                ok = False
                problem = "bozo not set on a document with undefined entities"
            if not ok and problem is None:
                problem = explain(expect, ns)
                if note:
                    problem += " (%s)" % note
        if name in NOT_APPLICABLE:
            if problem is None:
                row[1] += 1
                failures.append((name, expect, "passes now, yet NOT_APPLICABLE "
                                 "lists it: take it off the list"))
            else:
                row[2] += 1
        elif problem is None:
            row[0] += 1
            if via_html:
                as_html.append(name)
                row[3] += 1
            if verbose:
                print("pass  %s" % name)
        else:
            row[1] += 1
            failures.append((name, expect, problem))
    return tally, failures, as_html


def report(results, markdown, verbose):
    tally, failures, as_html = results
    npass = sum(r[0] for r in tally.values())
    nfail = sum(r[1] for r in tally.values())
    nna = sum(r[2] for r in tally.values())
    nhtml = sum(r[3] for r in tally.values())
    if markdown:
        print("| folder | pass | of which as HTML | fail | n/a |")
        print("|---|---:|---:|---:|---:|")
        for folder in sorted(tally):
            p, f, n, h = tally[folder]
            print("| `%s` | %d | %d | %d | %d |" % (folder, p, h, f, n))
        print("| **total** | **%d** | **%d** | **%d** | **%d** |" % (npass, nhtml, nfail, nna))
        print("\nPassed when compared as HTML (`html_canon`):\n")
        for name in as_html:
            print("- `%s`" % name)
        print("\nNot applicable:\n")
        print("| case | reason |")
        print("|---|---|")
        for name in sorted(NOT_APPLICABLE):
            print("| `%s` | %s |" % (name, NOT_APPLICABLE[name]))
        print()
    else:
        width = max(len(f) for f in tally)
        print("%-*s  %5s %5s %5s   %s" % (width, "folder", "pass", "fail", "n/a", "(as HTML)"))
        for folder in sorted(tally):
            p, f, n, h = tally[folder]
            print("%-*s  %5d %5d %5d   %s" % (width, folder, p, f, n, h or ""))
        for name, expect, problem in failures:
            print("\nFAIL %s\n  expect: %s\n  got:    %s" % (name, expect, problem))
        if verbose:
            for name in as_html:
                print("as HTML  %s" % name)
            for name in sorted(NOT_APPLICABLE):
                print("n/a   %s: %s" % (name, NOT_APPLICABLE[name]))
    print("feed-conformance: %d passed, %d failed, %d n/a" % (npass, nfail, nna))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python3
"""httpd_fixture.py: the HTTP server test_fetch.c talks to.

Usage: httpd_fixture.py LOGFILE

Listens on 127.0.0.1 on a free port and prints that port on stdout (one
line), then serves until killed. Only the standard library. Every request
appends one line to LOGFILE, so the C test can check what it sent:

    REQ <path> [hold=<n>] <header>=<value> ...  (names lower-case, tab-separated)

where hold=<n> counts the /hold requests in progress, this one included
(the test's check on how many transfers run at once).

and the streaming routes add, once the client has gone away or the stream
ended, a line "SENT <path> <bytes written>" to show how far the client read.
"""
import gzip
import http.server
import sys
import threading
import time
import urllib.parse

FEED = (b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<rss version="2.0"><channel><title>t</title></channel></rss>\n')
FEED_ETAG = '"abc"'
FEED_LM = 'Wed, 21 Oct 2015 07:28:00 GMT'
GZIP_TEXT = b'hello, compressed world\n' * 200
STREAM_LIMIT = 200 * 1024 * 1024   # a backstop: "endless" ends here
CHUNK = b'x' * 65536

log_lock = threading.Lock()
hold_lock = threading.Lock()
hold_active = 0


def log_line(text):
    with log_lock:
        with open(LOGFILE, 'a', encoding='utf-8') as f:
            f.write(text + '\n')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def send_body(self, code, body, ctype='text/plain', extra=()):
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, code, where):
        # Headers a careless client might keep from a redirect.
        self.send_response(code)
        self.send_header('Location', where)
        self.send_header('ETag', '"redirect-' + str(code) + '"')
        self.send_header('Last-Modified', 'Mon, 01 Jan 2001 00:00:00 GMT')
        self.send_header('Content-Type', 'text/html')
        self.send_header('Content-Length', '0')
        self.end_headers()

    def stream(self, total, length_header):
        """Writes `total` bytes; logs how many got out before the client
        closed the connection."""
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        if length_header:
            self.send_header('Content-Length', str(total))
        else:
            self.send_header('Connection', 'close')  # close-delimited body
        self.end_headers()
        sent = 0
        try:
            while sent < total:
                n = min(len(CHUNK), total - sent)
                self.wfile.write(CHUNK[:n])
                sent += n
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.close_connection = True
            log_line('SENT %s %d' % (self.path, sent))

    def do_GET(self):
        global hold_active
        hold = self.path.startswith('/hold')
        fields = ['REQ', self.path]
        if hold:
            with hold_lock:
                hold_active += 1
                fields.append('hold=%d' % hold_active)
        fields += ['%s=%s' % (k.lower(), v) for k, v in self.headers.items()]
        log_line('\t'.join(fields))
        try:
            self.route()
        finally:
            if hold:
                with hold_lock:
                    hold_active -= 1

    def route(self):
        path, _, query = self.path.partition('?')
        params = dict(p.partition('=')[::2] for p in query.split('&') if p)
        if path == '/feed':
            inm = self.headers.get('If-None-Match')
            ims = self.headers.get('If-Modified-Since')
            if (inm == FEED_ETAG) or (inm is None and ims == FEED_LM):
                self.send_response(304)
                self.send_header('ETag', FEED_ETAG)
                self.end_headers()
                return
            self.send_body(200, FEED, 'application/rss+xml; charset=utf-8',
                           [('ETag', FEED_ETAG), ('Last-Modified', FEED_LM)])
        elif path == '/gzip':
            # Only to a client that says it can decode it.
            if 'gzip' not in self.headers.get('Accept-Encoding', ''):
                self.send_body(406, b'gzip only\n')
                return
            self.send_body(200, gzip.compress(GZIP_TEXT), 'text/plain',
                           [('Content-Encoding', 'gzip')])
        elif path == '/r1':
            self.redirect(301, '/r2')
        elif path == '/r2':
            self.redirect(302, '/feed')
        elif path == '/r3':
            self.redirect(302, '/wrongtype')   # a final answer with no ETag
        elif path == '/loop':
            n = int(params.get('n', '0'))
            self.redirect(302, '/loop?n=%d' % (n + 1))
        elif path == '/404':
            self.send_body(404, b'no such page\n')
        elif path == '/500':
            self.send_body(500, b'broken\n')
        elif path == '/slow':
            time.sleep(5)
            self.send_body(200, b'late\n')
        elif path == '/hold':
            time.sleep(0.4)
            self.send_body(200, ('held %s\n' % params.get('i', '')).encode())
        elif path == '/big':
            # 20 MB announced up front.
            self.stream(20 * 1024 * 1024, True)
        elif path == '/big-stall':
            # 20 MB announced, then nothing for 5 s: only a client that
            # judges the Content-Length gives up at once.
            self.send_response(200)
            self.send_header('Content-Type', 'application/octet-stream')
            self.send_header('Content-Length', str(20 * 1024 * 1024))
            self.end_headers()
            self.wfile.flush()
            time.sleep(5)
            self.close_connection = True
        elif path == '/stream':
            # No length: endless unless len= is given.
            self.stream(min(int(params.get('len', STREAM_LIMIT)),
                            STREAM_LIMIT), False)
        elif path == '/wrongtype':
            self.send_body(200, b'<html><body>not a feed</body></html>\n',
                           'text/html; charset=utf-8')
        elif path == '/dir/cl':
            # The feed with the Content-Location given as ?loc= (%-decoded).
            self.send_body(200, FEED, 'application/rss+xml',
                           [('Content-Location',
                             urllib.parse.unquote(params.get('loc', '')))])
        elif path == '/r-cl':
            # A redirect whose own Content-Location must not outlive it.
            self.send_response(302)
            self.send_header('Location', '/feed')
            self.send_header('Content-Location', '/from-the-redirect')
            self.send_header('Content-Length', '0')
            self.end_headers()
        elif path == '/redir-file':
            self.redirect(302, 'file:///etc/passwd')
        elif path == '/badreason':
            # A reason phrase with a control character in it.
            self.send_response(418, 'I am\x1b[31m a teapot')
            self.send_header('Content-Length', '0')
            self.end_headers()
        else:
            self.send_body(404, b'unknown route\n')


def main():
    global LOGFILE
    LOGFILE = sys.argv[1]
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == '__main__':
    main()

"""A small caching HTTP proxy for Debian packages, used by the lab hosts.

Every lab host runs apt against the same Debian mirror. Without a cache a
multi-host scenario downloads the same packages once per host and per run.
This proxy sits on the controller, is used by apt in every lab host through
``Acquire::http::Proxy`` and by debootstrap through ``http_proxy``, and keeps:

* immutable files forever: ``*.deb``, ``*.udeb`` and ``by-hash/`` indexes;
* mutable index files (``InRelease``, ``Release``, ``Packages*``) for a short
  time, so a burst of ``apt-get update`` on many hosts hits the mirror once.

Only plain HTTP proxying (absolute-URI GET/HEAD) is supported: that is what
apt uses for Debian's mirrors. Anything else gets 405. Stdlib only.
"""

import argparse
import hashlib
import http.server
import os
import shutil
import socketserver
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

IMMUTABLE_SUFFIXES = (".deb", ".udeb", ".dsc")
MUTABLE_TTL = 600  # seconds an index file is served from cache
CHUNK = 1 << 16


def cache_policy(path):
    """Return 'immutable', 'mutable' or None (do not cache) for a URL path."""
    if path.endswith(IMMUTABLE_SUFFIXES) or "/by-hash/" in path:
        return "immutable"
    if "/dists/" in path:
        return "mutable"
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ultraai-pkgcache/1"
    cache_dir = None

    def log_message(self, fmt, *args):  # quieter, single line per request
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def _cache_file(self, url):
        digest = hashlib.sha256(url.encode()).hexdigest()
        return os.path.join(self.cache_dir, digest[:2], digest)

    def _send_file(self, fname, head):
        size = os.path.getsize(fname)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("X-Cache", "HIT")
        self.end_headers()
        if not head:
            with open(fname, "rb") as src:
                shutil.copyfileobj(src, self.wfile, CHUNK)

    def _proxy(self, head):
        url = self.path
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.netloc:
            self.send_error(405, "only absolute http:// URLs are proxied")
            return
        policy = cache_policy(parsed.path)
        fname = self._cache_file(url) if policy else None
        if fname and os.path.exists(fname):
            age = time.time() - os.path.getmtime(fname)
            if policy == "immutable" or age < MUTABLE_TTL:
                self._send_file(fname, head)
                return
        req = urllib.request.Request(url, method="HEAD" if head else "GET")
        try:
            upstream = urllib.request.urlopen(req, timeout=60)
        except urllib.error.HTTPError as err:
            self.send_response(err.code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        except (urllib.error.URLError, OSError) as err:
            self.send_error(502, "upstream error: %s" % err)
            return
        with upstream:
            length = upstream.headers.get("Content-Length")
            self.send_response(upstream.status)
            for key in ("Content-Type", "Last-Modified", "ETag"):
                if upstream.headers.get(key):
                    self.send_header(key, upstream.headers[key])
            if length is not None:
                self.send_header("Content-Length", length)
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.send_header("X-Cache", "MISS")
            self.end_headers()
            if head:
                return
            tmp = None
            if fname and upstream.status == 200:
                os.makedirs(os.path.dirname(fname), exist_ok=True)
                tmp = tempfile.NamedTemporaryFile(dir=os.path.dirname(fname), delete=False)
            try:
                received = 0
                while True:
                    chunk = upstream.read(CHUNK)
                    if not chunk:
                        break
                    received += len(chunk)
                    self.wfile.write(chunk)
                    if tmp:
                        tmp.write(chunk)
                if tmp:
                    tmp.close()
                    if length is None or received == int(length):
                        os.replace(tmp.name, fname)  # atomic: readers never see a partial file
                        tmp = None
            finally:
                if tmp is not None:  # failed or short download: keep nothing
                    tmp.close()
                    os.unlink(tmp.name)

    def do_GET(self):  # noqa: N802 (http.server naming)
        self._proxy(head=False)

    def do_HEAD(self):  # noqa: N802
        self._proxy(head=True)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", action="append", required=True, help="address to listen on (repeatable)")
    parser.add_argument("--port", type=int, default=3142)
    parser.add_argument("--cache-dir", required=True)
    args = parser.parse_args()
    Handler.cache_dir = args.cache_dir
    os.makedirs(args.cache_dir, exist_ok=True)
    first = Server((args.bind[0], args.port), Handler)
    for addr in args.bind[1:]:
        # Later addresses (the lab network's gateway) may not exist yet: the
        # bridge appears with the first container. Keep trying in the background.
        threading.Thread(target=serve_when_possible, args=(addr, args.port), daemon=True).start()
    first.serve_forever()


def serve_when_possible(addr, port):
    while True:
        try:
            srv = Server((addr, port), Handler)
        except OSError:
            time.sleep(0.5)
            continue
        sys.stderr.write("listening on %s:%d\n" % (addr, port))
        srv.serve_forever()


if __name__ == "__main__":
    main()

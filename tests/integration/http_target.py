"""The server functions call in the outbound HTTP test. usage: http_target.py PORT
/echo        the method, the X-Test header and the body, as text
/redirect-in a 302 to /echo on this server
/redirect-to?URL  a 302 to URL
/big         10 MB
/hang        never answers"""
import http.server
import sys
import time
import urllib.parse


class Target(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(n) if n else b""
        path = urllib.parse.urlparse(self.path)
        if path.path == "/echo":
            self.answer(200, b"%s %s %s" % (self.command.encode(), (self.headers.get("X-Test") or "-").encode(), body))
        elif path.path == "/redirect-in":
            self.answer(302, b"", [("Location", "/echo")])
        elif path.path == "/redirect-to":
            self.answer(302, b"", [("Location", urllib.parse.unquote(path.query))])
        elif path.path == "/big":
            self.answer(200, b"x" * (10 << 20))
        elif path.path == "/hang":
            time.sleep(30)
        else:
            self.answer(404, b"no")

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Target).serve_forever()

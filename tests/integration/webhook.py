"""A webhook receiver for the sinks test: every POST's path, Authorization and X-Token headers
and JSON body go, one JSON line each, to a file. usage: webhook.py PORT FILE"""
import http.server
import json
import sys


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "a") as out:
            out.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                                  "token": self.headers.get("X-Token"),
                                  "body": json.loads(body)}) + "\n")
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()

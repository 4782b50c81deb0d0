#!/usr/bin/env python3
"""Hostile HTTP clients against a real `funless core` on loopback, bounded in time and count:

- uploads with a wrong token: answered 401 from the headers alone, nothing buffered (the Core's
  RSS stays under 64 MB while 40 clients each try to send 30 MiB);
- a Content-Length over the limit with `Expect: 100-continue`: 413 at once, never 100;
- ambiguous framing (two Content-Lengths, Content-Length with Transfer-Encoding): 400;
- NUL bytes: `%00` in a path (kept, so no name takes it), `\\u0000` in JSON; data after the
  JSON object: 400;
- slowloris: 1,200 connections (from 127.0.0.2) each sending a header line now and then never
  finish; `/livez` (from 127.0.0.1) answers throughout with p99 under 50 ms, the slow ones are
  closed at the header deadline, the Core's RSS stays under 64 MB;
- a second Core started on the same port fails instead of sharing it.

usage: test_hostile_http.py FUNLESS_BINARY
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from checks import check, finish, proc_status, raise_fd_limit

FUNLESS = sys.argv[1]


def rss_mb(pid):
    return proc_status(pid, "VmRSS") / 1024


def start_core(tmp, extra):
    out = open(os.path.join(tmp, "core.out"), "w+")
    err = open(os.path.join(tmp, "core.err"), "w")
    proc = subprocess.Popen([FUNLESS, "core", "--listen", "127.0.0.1:0", "--data-dir",
                             os.path.join(tmp, "data")] + extra, stdout=out, stderr=err)
    deadline = time.time() + 10
    while time.time() < deadline:
        out.seek(0)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", out.read())
        if m:
            tokens = open(os.path.join(tmp, "data", "tokens")).read()
            guest = re.search(r"Guest=(\w+)", tokens).group(1)
            return proc, int(m.group(1)), guest
        time.sleep(0.05)
    raise SystemExit("the Core did not start")


def request(port, raw, timeout=5.0, source="127.0.0.1"):
    """Sends raw bytes, returns the reply's status line and the whole reply read until close or
    timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0))
    s.sendall(raw)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    return data.split(b"\r\n", 1)[0].decode(errors="replace"), data


def status_of(line):
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def preauth_uploads(pid, port):
    """40 clients, a wrong token each, each announcing and trying to send 30 MiB."""
    size = 30 << 20
    socks = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        s.send(b"POST /v1/fn/_ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
               b"Content-Type: multipart/form-data; boundary=b\r\n"
               b"Content-Length: %d\r\n\r\n" % size)
        socks.append({"sock": s, "sent": 0, "reply": b"", "closed": False})
    chunk = b"x" * (256 << 10)
    peak = 0.0
    deadline = time.time() + 15
    while time.time() < deadline and not all(c["closed"] for c in socks):
        for c in socks:
            if c["closed"]:
                continue
            try:
                data = c["sock"].recv(65536)
                if data:
                    c["reply"] += data
                else:
                    c["closed"] = True
            except BlockingIOError:
                pass
            except OSError:
                c["closed"] = True
            if not c["closed"] and c["sent"] < size:
                try:
                    c["sent"] += c["sock"].send(chunk)
                except BlockingIOError:
                    pass
                except OSError:
                    c["closed"] = True
        peak = max(peak, rss_mb(pid))
        time.sleep(0.01)
    statuses = [status_of(c["reply"].split(b"\r\n", 1)[0].decode(errors="replace")) for c in socks]
    for c in socks:
        c["sock"].close()
    check("wrong-token uploads get 401", statuses.count(401) == len(socks), str(statuses))
    check("wrong-token uploads are not buffered (Core RSS < 64 MB)", peak < 64, f"{peak:.1f} MB")
    sent = sum(c["sent"] for c in socks) >> 20
    print(f"pre-auth uploads: {statuses.count(401)} x 401, {sent} MiB sent before the Core "
          f"closed, Core peak RSS {peak:.1f} MB", flush=True)


def strict_http(port, token):
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    line, data = request(port, b"POST /v1/fn/_ HTTP/1.1\r\nHost: x\r\n" + auth +
                         b"Expect: 100-continue\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                         b"Content-Length: 999999999999\r\n\r\n")
    check("an over-limit Content-Length gets 413 at once, not 100 Continue",
          status_of(line) == 413 and b"100 Continue" not in data, line)
    line, _ = request(port, b"POST /v1/fn HTTP/1.1\r\nHost: x\r\n" + auth +
                      b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                      b"Content-Length: 30\r\n\r\n{}")
    check("two Content-Lengths get 400", status_of(line) == 400, line)
    line, _ = request(port, b"POST /v1/fn HTTP/1.1\r\nHost: x\r\n" + auth +
                      b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n{}")
    check("Content-Length with Transfer-Encoding gets 400", status_of(line) == 400, line)
    line, _ = request(port, b"GET /v1/fn/_%00 HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
    check("%00 in a path does not cut it short", status_of(line) in (400, 404, 422), line)
    body = b'{"module":{"name":"ab\\u0000cd"}}'
    line, _ = request(port, b"POST /v1/fn HTTP/1.1\r\nHost: x\r\n" + auth +
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                      + body)
    check("\\u0000 in JSON gets 400", status_of(line) == 400, line)
    body = b'{"module":{"name":"trailing"}} {"x":1}'
    line, _ = request(port, b"POST /v1/fn HTTP/1.1\r\nHost: x\r\n" + auth +
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                      + body)
    check("data after the JSON object gets 400", status_of(line) == 400, line)
    line, data = request(port, b"GET /v1/fn/trailing HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
    check("... and nothing was created", status_of(line) == 404, line)


def livez_ms(port):
    t0 = time.time()
    line, _ = request(port, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
    return (time.time() - t0) * 1000, status_of(line)


def slowloris(pid, port, seconds, header_deadline_s):
    """Connections from 127.0.0.2 that send a header line every 2 s and never finish."""
    socks = []
    for _ in range(1200):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2,
                                         source_address=("127.0.0.2", 0))
            s.setblocking(False)
            s.send(b"GET /v1/fn HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        except OSError:
            break
    opened = len(socks)
    times, statuses, peak = [], [], 0.0
    started = time.time()
    last_drip = started
    while time.time() - started < seconds:
        if time.time() - last_drip >= 2:
            last_drip = time.time()
            for s in socks:
                try:
                    s.send(b"X-Slow: 1\r\n")
                except OSError:
                    pass
        ms, status = livez_ms(port)
        times.append(ms)
        statuses.append(status)
        peak = max(peak, rss_mb(pid))
        time.sleep(0.05)
    # the slow ones: closed by the Core at its header deadline
    closed = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_DONTWAIT) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    times.sort()
    p99 = times[int(len(times) * 0.99) - 1] if times else 1e9
    print(f"slowloris: {opened} slow connections, {closed} closed by the Core after "
          f"{seconds} s; /livez {len(times)} times, p50 {times[len(times) // 2]:.1f} ms, "
          f"p99 {p99:.1f} ms; Core peak RSS {peak:.1f} MB", flush=True)
    check("/livez answers 200 throughout", statuses and all(s == 200 for s in statuses),
          str(sorted(set(statuses))))
    check("/livez p99 under 50 ms", p99 < 50, f"{p99:.1f} ms")
    check("slow header senders are closed at the header deadline",
          seconds > header_deadline_s and closed == opened, f"{closed} of {opened}")
    check("Core RSS under 64 MB", peak < 64, f"{peak:.1f} MB")


def main():
    raise_fd_limit()
    tmp = tempfile.mkdtemp(prefix="funless-test-hostile-http-")
    proc = None
    try:
        proc, port, token = start_core(tmp, ["--header-timeout-s", "5"])
        preauth_uploads(proc.pid, port)
        strict_http(port, token)
        slowloris(proc.pid, port, 9, 5)
        check("the Core is still up", proc.poll() is None)
        # a second Core cannot share its port (SO_REUSEPORT would have let it take half the
        # connections, with other tokens)
        second = subprocess.run([FUNLESS, "core", "--listen", f"127.0.0.1:{port}", "--data-dir",
                                 os.path.join(tmp, "second")], capture_output=True, text=True,
                                timeout=20)
        check("a second Core on the same port is refused",
              second.returncode != 0 and "cannot listen" in second.stderr, second.stderr[-200:])
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()

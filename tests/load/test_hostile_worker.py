#!/usr/bin/env python3
"""Hostile clients against a real `funless worker` with a cluster secret, on loopback, bounded:

- 10 connections that announce 96 MiB frames (code pushes) without the handshake and stream
  them: refused from the frame header, nothing read (Worker RSS under 64 MB);
- 2,000 connections that never say anything: the Worker takes at most --max-unauthenticated of
  them at once and hangs up on each at --handshake-timeout-s (threads under 64, RSS under
  64 MB);
- then a real Core with the secret connects and a function runs: the attack left no damage.

usage: test_hostile_worker.py FUNLESS_BINARY   (env: FIXTURES_DIR)
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

from checks import check, finish, proc_status, raise_fd_limit

FUNLESS = sys.argv[1]
FIXTURES = os.environ["FIXTURES_DIR"]



def wait_for(path, pattern, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        m = re.search(pattern, open(path).read()) if os.path.exists(path) else None
        if m:
            return m
        time.sleep(0.05)
    raise SystemExit(f"{pattern} never appeared in {path}")


def frame_header(frame_type, length):
    return b"FL" + bytes([2, frame_type]) + struct.pack("<III", 0, length, 0)  # version 2


def big_frames(pid, port):
    socks = []
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        s.send(frame_header(3, 96 << 20))  # CODE_PUT, before AUTH
        socks.append(s)
    chunk = b"\0" * (1 << 20)
    peak, sent, deadline = 0, 0, time.time() + 5
    while time.time() < deadline and socks:
        for s in list(socks):
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                pass
            except OSError:
                socks.remove(s)
                s.close()
        peak = max(peak, proc_status(pid, "VmRSS"))
        time.sleep(0.01)
    for s in socks:
        s.close()
    print(f"big frames: {sent >> 20} MiB sent before the Worker hung up on all but "
          f"{len(socks)}; Worker peak RSS {peak / 1024:.1f} MB", flush=True)
    check("frames past the handshake size are refused unread", not socks)
    check("Worker RSS under 64 MB (big frames)", peak < 64 * 1024, f"{peak / 1024:.1f} MB")


def idle_flood(pid, port, timeout_s):
    socks = []
    for _ in range(2000):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    peak_threads = peak_rss = 0
    deadline = time.time() + timeout_s + 3
    open_left = len(socks)
    while time.time() < deadline:
        peak_threads = max(peak_threads, proc_status(pid, "Threads"))
        peak_rss = max(peak_rss, proc_status(pid, "VmRSS"))
        time.sleep(0.1)
    for s in socks:  # each should have been hung up on: a read says end of file
        try:
            s.setblocking(False)
            while True:
                data = s.recv(65536)
                if not data:
                    open_left -= 1
                    break
        except BlockingIOError:
            pass
        except OSError:
            open_left -= 1
        s.close()
    print(f"idle flood: {len(socks)} connections; peak {peak_threads} threads, "
          f"{peak_rss / 1024:.1f} MB; {open_left} still open after {timeout_s + 3} s", flush=True)
    check("Worker threads under 64 (idle flood)", peak_threads < 64, str(peak_threads))
    check("Worker RSS under 64 MB (idle flood)", peak_rss < 64 * 1024, f"{peak_rss / 1024:.1f} MB")
    check("idle unauthenticated connections are closed", open_left == 0, f"{open_left} open")


def core_still_served(tmp, wport, secret):
    out = os.path.join(tmp, "core.out")
    core = subprocess.Popen([FUNLESS, "core", "--listen", "127.0.0.1:0", "--data-dir",
                             os.path.join(tmp, "core"), "--workers", f"127.0.0.1:{wport}",
                             "--secret-file", secret], stdout=open(out, "w"),
                            stderr=open(os.path.join(tmp, "core.err"), "w"))
    try:
        port = wait_for(out, r"listening on http://127\.0\.0\.1:(\d+)").group(1)
        api = f"http://127.0.0.1:{port}"
        token = re.search(r"Guest=(\w+)", open(os.path.join(tmp, "core", "tokens")).read()).group(1)
        boundary = "b0undary"
        code = open(os.path.join(FIXTURES, "wat_tiny.wasm"), "rb").read()
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ntiny\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"wait_for_workers\"\r\n\r\n"
                f"true\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"code\"; "
                f"filename=\"t.wasm\"\r\nContent-Type: application/wasm\r\n\r\n").encode() + code + \
            f"\r\n--{boundary}--\r\n".encode()
        deadline = time.time() + 10
        status = 0
        while time.time() < deadline and status != 200:  # the Core dials the Worker first
            try:
                req = urllib.request.Request(f"{api}/v1/admin/workers", headers={
                    "Authorization": "Bearer " + re.search(r"Admin=(\w+)", open(
                        os.path.join(tmp, "core", "tokens")).read()).group(1)})
                listed = urllib.request.urlopen(req, timeout=5).read()
                status = 200 if b'"connected":true' in listed else 0
            except OSError:
                pass
            time.sleep(0.1)
        req = urllib.request.Request(f"{api}/v1/fn/_", data=body, headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        urllib.request.urlopen(req, timeout=10).read()
        req = urllib.request.Request(f"{api}/v1/fn/_/tiny", data=b"{}", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        reply = urllib.request.urlopen(req, timeout=10).read()
        check("a Core with the secret still gets its function run", reply == b'{"data":{}}',
              reply.decode(errors="replace"))
    except OSError as e:
        check("a Core with the secret still gets its function run", False, str(e))
    finally:
        core.terminate()
        core.wait(10)


def main():
    raise_fd_limit()
    tmp = tempfile.mkdtemp(prefix="funless-test-hostile-worker-")
    secret = os.path.join(tmp, "secret")
    open(secret, "w").write("the cluster secret of this test")
    out = os.path.join(tmp, "worker.out")
    worker = subprocess.Popen([FUNLESS, "worker", "--name", "target", "--listen", "127.0.0.1:0",
                               "--metrics", "off", "--announce", "off", "--threads", "2",
                               "--cache-dir", os.path.join(tmp, "cache"), "--secret-file", secret,
                               "--handshake-timeout-s", "2"],
                              stdout=open(out, "w"), stderr=open(os.path.join(tmp, "worker.err"), "w"))
    try:
        port = int(wait_for(out, r"listening on 127\.0\.0\.1:(\d+)").group(1))
        big_frames(worker.pid, port)
        idle_flood(worker.pid, port, 2)
        core_still_served(tmp, port, secret)
        check("the Worker is still up", worker.poll() is None)
    finally:
        worker.terminate()
        worker.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()

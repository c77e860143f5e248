#!/usr/bin/python3
"""Measures a real mooncake_master's HTTP server under abuse (issue #16 items
4 and 8), bounded in count and time; prints one line per measurement.

  scripts/bench_http_abuse.py BIN_DIR flood ADDRS PER_ADDR [WAIT_S]
      ADDRS x PER_ADDR idle connections (from 127.0.3.2, 127.0.3.3, ...),
      then the wait of a GET /health from a fresh address (5 s cap),
      optionally after WAIT_S more seconds of the flood
  scripts/bench_http_abuse.py BIN_DIR items
      5000 query parameters, two Content-Lengths, a short body then FIN,
      and a client trickling one byte every 2 s (16 s cap)

BIN_DIR holds the binaries (build/dev/bin); the master runs on free ports
and is stopped at the end. Needs `ulimit -n` above twice the flood.
"""
import os
import socket
import subprocess
import sys
import time

CRLF = b"\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_master(bin_dir):
    port = free_port()
    p = subprocess.Popen([os.path.join(bin_dir, "mooncake_master"), f"--rpc_port={port}",
                          f"--metrics_port={free_port()}"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(12) == b"HTTP/1.1 200":
                    return p, port
        except OSError:
            pass
        time.sleep(0.05)
    p.kill()
    sys.exit("master not healthy")


def conn(src, port, timeout=1):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def fresh_get(port):
    t0 = time.monotonic()
    try:
        c = conn("127.0.9.9", port, timeout=5)
        c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        d = c.recv(15)
        c.close()
        return f"{d!r} after {1000 * (time.monotonic() - t0):.1f} ms"
    except OSError as e:
        return f"{type(e).__name__} after {1000 * (time.monotonic() - t0):.0f} ms"


def flood(port, naddr, per, wait):
    socks, failed = [], 0
    for a in range(naddr):
        for _ in range(per):
            try:
                socks.append(conn(f"127.0.3.{2 + a}", port))
            except OSError:
                failed += 1
    time.sleep(0.5)
    held = 0
    for s in socks:
        s.setblocking(False)
        try:
            s.recv(1)
        except BlockingIOError:
            held += 1
        except OSError:
            pass
    print(f"flood: {naddr} x {per} connections ({failed} failed), held by the server: {held}")
    if wait:
        time.sleep(wait)
        print(f"after {wait:g} s more of the flood:")
    print("fresh GET /health:", fresh_get(port))
    for s in socks:
        s.close()


def outcome(s, cap):
    s.settimeout(cap)
    t0, out = time.monotonic(), b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            out += d
    except socket.timeout:
        return out.split(CRLF)[0].decode() + " (kept open)" if out else f"no reply, open after {cap} s"
    except OSError:
        pass
    if not out:
        return f"closed without reply after {1000 * (time.monotonic() - t0):.0f} ms"
    return out.split(CRLF)[0].decode() + " | " + out.split(CRLF + CRLF, 1)[-1][:80].decode()


def items(port):
    q = "&".join(f"a{i}=1" for i in range(5000))
    s = conn("127.0.0.2", port)
    s.sendall(f"GET /health?{q} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    print("5000 query parameters:", outcome(s, 3))
    s = conn("127.0.0.2", port)
    s.sendall(b"POST /api/v1/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
              b"Content-Length: 5\r\n\r\n{}xyz")
    print("two Content-Lengths:", outcome(s, 3))
    s = conn("127.0.0.2", port)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # part and FIN in one segment
    s.sendall(b"POST /api/v1/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":")
    s.shutdown(socket.SHUT_WR)
    print("short body then FIN:", outcome(s, 3))
    s = conn("127.0.0.2", port)
    t0, cut = time.monotonic(), None
    for b in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
        try:
            s.send(bytes([b]))
            s.settimeout(2)
            if s.recv(1) == b"":
                cut = time.monotonic() - t0
                break
        except socket.timeout:
            pass
        except OSError:
            cut = time.monotonic() - t0
            break
        if time.monotonic() - t0 > 16:
            break
    print("trickle, 1 byte / 2 s:", f"cut after {cut:.1f} s" if cut else "still open after 16 s")


def main():
    if len(sys.argv) < 3 or sys.argv[2] not in ("flood", "items"):
        sys.exit(__doc__)
    master, port = start_master(sys.argv[1])
    try:
        if sys.argv[2] == "flood":
            flood(port, int(sys.argv[3]), int(sys.argv[4]),
                  float(sys.argv[5]) if len(sys.argv) > 5 else 0)
        else:
            items(port)
    finally:
        master.terminate()
        master.wait(10)


if __name__ == "__main__":
    main()

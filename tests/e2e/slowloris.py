#!/usr/bin/env python3
"""A slowloris from one address: open N connections to 127.0.0.1:PORT from
SRC, half trickling request headers, half trickling a webhook body, one byte
a second, for SECONDS; prints how many connections the server still held
open at the end.  Used by test_hostile.sh."""
import socket
import sys
import time

port, n, seconds, src = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        if i % 2:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        else:
            s.sendall(b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        socks.append(s)
    except OSError:
        s.close()
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    time.sleep(1)
    alive = []
    for s in socks:
        try:
            s.sendall(b"X")
            alive.append(s)
        except OSError:
            s.close()
    socks = alive
print("held", len(socks), flush=True)

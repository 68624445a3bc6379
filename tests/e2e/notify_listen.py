#!/usr/bin/env python3
"""Stand in for systemd's notify socket: print each datagram received on the
AF_UNIX socket PATH as one line (newlines inside a message become ' | '),
until TIMEOUT seconds pass with nothing received."""
import socket
import sys

path, timeout = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 30
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(timeout)
print("listening", flush=True)
try:
    while True:
        msg = s.recv(4096).decode("utf-8", "replace")
        print(msg.replace("\n", " | "), flush=True)
except socket.timeout:
    pass

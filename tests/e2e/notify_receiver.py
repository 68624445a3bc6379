#!/usr/bin/env python3
"""A notification receiver for test_notify.sh, on 127.0.0.1 only.

notify_receiver.py PORTFILE LOG [--fail N] [--hang] [--tls CERT KEY]

Writes the port it listens on to PORTFILE, then appends one JSON line to
LOG for each request: method, path, headers, body (parsed as JSON when it
is), and the status answered.  --fail N answers 500 to the first N
requests; --hang reads each request and never answers; --tls serves https
with CERT and KEY."""
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = sys.argv[1:]
port_file, log_path = args[0], args[1]
fail = int(args[args.index("--fail") + 1]) if "--fail" in args else 0
hang = "--hang" in args
tls = (args[args.index("--tls") + 1], args[args.index("--tls") + 2]) if "--tls" in args else None
lock = threading.Lock()
seen = [0]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        with lock:
            seen[0] += 1
            status = 500 if seen[0] <= fail else 200
            if hang:
                status = 0
            rec = {"method": self.command, "path": self.path, "headers": dict(self.headers),
                   "body": body, "status": status, "time": time.time()}
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if hang:
            time.sleep(3600)
            return
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
if tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls[0], tls[1])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()

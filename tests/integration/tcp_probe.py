# -*- coding: utf-8 -*-
"""A TCP session that must survive the migration.
server PORT          print "listening", then echo every byte back (one client at a time)
client HOST PORT LOG  send a byte every 0.1 s, expect it back; append "ok N" every 50
                      round trips, "FAIL N <error>" and exit on the first failure"""
from __future__ import annotations

import socket
import sys
import time

if sys.argv[1] == "server":
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(sys.argv[2])))
    srv.listen(4)
    print("listening", flush=True)
    while True:
        conn, _addr = srv.accept()
        while True:
            data = conn.recv(64)
            if not data:
                break
            conn.sendall(data)
else:
    count = 0
    with open(sys.argv[4], "a") as log:
        try:
            sock = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10)
            sock.settimeout(10)  # a migration may pause the session, not break it
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                sock.sendall(b"x")
                if sock.recv(1) != b"x":
                    raise IOError("connection closed")
                count += 1
                if count % 50 == 0:
                    log.write("ok %d\n" % count)
                    log.flush()
                time.sleep(0.1)
        except Exception as exc:  # report whatever broke the session
            log.write("FAIL %d %s\n" % (count, exc))

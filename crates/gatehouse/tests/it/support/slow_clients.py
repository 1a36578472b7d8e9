#!/usr/bin/env python3
"""Slow clients against one HTTP server: opens COUNT connections, sends each a partial request
head and nothing more, then waits for the server to close them. Stops by itself after HOLD
seconds. Prints one JSON line: how many connected, how many the server closed, how long the
longest took (from sending the partial head), and how many were still open at the end.

usage: slow_clients.py HOST PORT COUNT HOLD_SECS
"""

import json
import selectors
import socket
import sys
import time

PARTIAL_HEAD = b"GET /v1/session HTTP/1.1\r\nHost: gatehouse\r\nUser-Agent: slow\r\n"


def main() -> None:
    host, port, count, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    started = time.monotonic()
    deadline = started + hold
    selector = selectors.DefaultSelector()
    sent_at = {}
    failed = 0
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        try:
            sock = socket.create_connection((host, port), timeout=3)
            sock.sendall(PARTIAL_HEAD)
        except OSError:
            failed += 1
            continue
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        sent_at[sock] = time.monotonic()
    connected = len(sent_at) + 0
    opened_in = time.monotonic() - started
    closed = 0
    answered = 0
    longest = 0.0
    while sent_at and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if data:
                # The server answered a head it never got whole: not what a slow client expects.
                answered += 1
            took = time.monotonic() - sent_at.pop(sock)
            longest = max(longest, took)
            closed += 1
            selector.unregister(sock)
            sock.close()
    still_open = len(sent_at)
    for sock in list(sent_at):
        sock.close()
    print(json.dumps({
        "connected": connected,
        "failed_to_connect": failed,
        "opened_in_secs": round(opened_in, 3),
        "closed_by_server": closed,
        "answered": answered,
        "longest_open_secs": round(longest, 3),
        "still_open": still_open,
    }))


if __name__ == "__main__":
    main()

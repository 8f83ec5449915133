"""A byte source faster than the virtual modem: a scripted A7600 on a pty.

It answers the few AT commands a CMQTT client sends to start, connect and subscribe
(with canned replies taken from the virtual modem's transcript), then, when told on stdin,
writes pre-built ``+CMQTTRX*`` blocks into the pty:

- ``flood N``: N messages with 64-byte payloads, written in large chunks, as fast as the
  reader takes them (measures the client, not the source);
- ``timed N GAP_US``: N messages one write each, GAP_US microseconds apart, each payload
  starting with the ``time.monotonic_ns()`` read just before its write (the write that
  carries the message's last byte), for latency.

It runs as its own process (``python bench/fastsource.py``), prints the pty path on its
first stdout line and ``done`` after each job, and exits when stdin closes. The blocks are
byte-for-byte what the virtual modem writes for the same message.
"""

from __future__ import annotations

import os
import re
import select
import sys
import threading
import time

TOPIC = b"bench/fast"
PAYLOAD_BYTES = 64
# Printable, so that line-based baselines see the payload as one line, as modemqtt does.
PAYLOAD = (b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/")[:PAYLOAD_BYTES]


def rx_block(payload: bytes, topic: bytes = TOPIC) -> bytes:
    return (
        b"\r\n+CMQTTRXSTART: 0,%d,%d\r\n" % (len(topic), len(payload))
        + b"\r\n+CMQTTRXTOPIC: 0,%d\r\n" % len(topic)
        + topic
        + b"\r\n\r\n+CMQTTRXPAYLOAD: 0,%d\r\n" % len(payload)
        + payload
        + b"\r\n\r\n+CMQTTRXEND: 0\r\n"
    )


BLOCK = rx_block(PAYLOAD)

REPLIES: list[tuple[bytes, bytes]] = [
    (b"AT+CGMI", b"\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n"),
    (b"AT+CGMM", b"\r\nA7600E-H\r\n\r\nOK\r\n"),
    (b"AT+CMQTTACCQ=?", b"\r\n+CMQTTACCQ: (0-1),(1-128)[,(0-1)]\r\n\r\nOK\r\n"),
    (b"AT+CMQTTSTART", b"\r\nOK\r\n\r\n+CMQTTSTART: 0\r\n"),
    (b"AT+CMQTTSTOP", b"\r\nOK\r\n\r\n+CMQTTSTOP: 0\r\n"),
    (b"AT+CMQTTDISC?", b"\r\n+CMQTTDISC: 0,1\r\n\r\n+CMQTTDISC: 1,1\r\n\r\nOK\r\n"),
    (b"AT+CMQTTDISC=", b"\r\nOK\r\n\r\n+CMQTTDISC: 0,0\r\n"),
    (b"AT+CMQTTCONNECT=", b"\r\nOK\r\n\r\n+CMQTTCONNECT: 0,0\r\n"),
]


# `python bench/fastsource.py qmt`: a Quectel EC20 instead, for the publish figure.
REPLIES_QMT: list[tuple[bytes, bytes]] = [
    (b"AT+CGMI", b"\r\nQuectel\r\n\r\nOK\r\n"),
    (b"AT+CGMM", b"\r\nEC20F\r\n\r\nOK\r\n"),
    (b"AT+QMTOPEN=", b"\r\nOK\r\n\r\n+QMTOPEN: 0,0\r\n"),
    (b"AT+QMTCONN=", b"\r\nOK\r\n\r\n+QMTCONN: 0,0,0\r\n"),
    (b"AT+QMTDISC=", b"\r\nOK\r\n\r\n+QMTDISC: 0,0\r\n"),
    (b"AT+QMTCLOSE=", b"\r\nOK\r\n\r\n+QMTCLOSE: 0,0\r\n"),
]

# Commands followed by data after a prompt: (pattern with the length group, the prompt, the
# answer once the data is in; \1 in the answer is the pattern's first group).
DATA_CMQTT = [
    (re.compile(rb"AT\+CMQTT(?:TOPIC|PAYLOAD)=0,(\d+)"), b"\r\n>", b"\r\nOK\r\n"),
]
DATA_QMT = [
    (
        re.compile(rb'AT\+QMTPUBEX=0,(\d+),\d,\d,"[^"]*",(\d+)'),
        b"\r\n> ",
        b"\r\nOK\r\n\r\n+QMTPUBEX: 0,%s,0\r\n",
    ),
]


class Source:
    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.slave_path = os.ttyname(slave)
        # Keep our slave descriptor open so the master never sees a hang-up while the
        # client reopens the port; raw mode so nothing is translated.
        import tty

        tty.setraw(slave)
        self._slave = slave
        self.write_lock = threading.Lock()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        with self.write_lock:
            while view:
                n = os.write(self.master, view)
                view = view[n:]

    def serve(self, family: str = "cmqtt") -> None:
        buf = b""
        sub = re.compile(rb"AT\+CMQTT(?:SUB|UNSUB)=0,(\d+)")
        replies = REPLIES_QMT if family == "qmt" else REPLIES
        data_cmds = DATA_QMT if family == "qmt" else DATA_CMQTT
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\r" in buf:
                line, buf = buf.split(b"\r", 1)
                line = line.strip()
                if not line:
                    continue
                m = sub.match(line)
                if m:
                    need = int(m.group(1))
                    self.write(b"\r\n>")
                    while len(buf) < need:
                        buf += os.read(self.master, 4096)
                    buf = buf[need:]
                    kind = b"UNSUB" if b"UNSUB" in line else b"SUB"
                    self.write(b"\r\nOK\r\n\r\n+CMQTT%s: 0,0\r\n" % kind)
                    continue
                for pat, prompt, answer in data_cmds:
                    d = pat.match(line)
                    if d:
                        need = int(d.groups()[-1])
                        self.write(prompt)
                        while len(buf) < need:
                            buf += os.read(self.master, 4096)
                        buf = buf[need:]
                        self.write(answer % d.group(1) if b"%s" in answer else answer)
                        break
                else:
                    d = None
                if d:
                    continue
                if line.upper().startswith(b"AT+CMQTTPUB="):
                    self.write(b"\r\nOK\r\n\r\n+CMQTTPUB: 0,0\r\n")
                    continue
                for prefix, reply in replies:
                    if line.upper().startswith(prefix):
                        self.write(reply)
                        break
                else:
                    echo = line + b"\r" if line.upper() in (b"AT", b"ATE0") else b""
                    self.write(echo + b"\r\nOK\r\n")

    def flood(self, n: int) -> None:
        per_write = 1000
        chunk = BLOCK * per_write
        full, rest = divmod(n, per_write)
        for _ in range(full):
            self.write(chunk)
        self.write(BLOCK * rest)

    def timed(self, n: int, gap_us: int) -> None:
        gap = gap_us / 1e6
        pad = PAYLOAD
        next_at = time.perf_counter()
        for _ in range(n):
            next_at += gap
            wait = next_at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            ts = b"%020d" % time.monotonic_ns()
            self.write(rx_block(ts + pad[len(ts) :]))


def main() -> None:
    src = Source()
    family = sys.argv[1] if len(sys.argv) > 1 else "cmqtt"
    threading.Thread(target=src.serve, args=(family,), daemon=True).start()
    print(src.slave_path, flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "flood":
            src.flood(int(words[1]))
        elif words[0] == "timed":
            src.timed(int(words[1]), int(words[2]))
        print("done", flush=True)
    # Let the client read what is still queued before the pty goes away.
    select.select([], [], [], 0.2)


if __name__ == "__main__":
    main()

"""The benchmarks of issue 10, each figure with its baseline from the same run.

One JSON line per figure on stdout (``{"bench": ..., "figure": ..., ...}``); ``bench/run``
calls this after the criterion codec bench and prints the table. Run one part with
``python bench/suite.py codec-py|inbound|paced|latency|publish|idle``.

Sources of messages:
- ``vm``: the virtual modem (A7600 profile) fed by a paho publisher through the embedded
  broker, i.e. the whole path a test lab sees;
- ``fast``: ``bench/fastsource.py``, a scripted A7600 in its own process that writes
  pre-built ``+CMQTTRX*`` blocks into a pty as fast as they are read, so the client, not the
  source, sets the pace.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fastsource  # noqa: E402

PAYLOAD = fastsource.PAYLOAD


def emit(figure: str, **values: object) -> None:
    print(json.dumps({"bench": "suite", "figure": figure, **values}), flush=True)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------------------
# 1. codec: pure-Python pyserial-style line reader with regexes on the criterion stream

RX_START = re.compile(rb"^\+CMQTTRXSTART: (\d+),(\d+),(\d+)$")
RX_PART = re.compile(rb"^\+CMQTTRX(TOPIC|PAYLOAD): (\d+),(\d+)$")
QMT_RECV = re.compile(rb'^\+QMTRECV: (\d+),(\d+),"([^"]*)",(\d+),"')
FINAL = re.compile(rb"^(OK|ERROR|\+CME ERROR: .*|\+CMS ERROR: .*)$")
INFO = re.compile(rb"^\+([A-Z]+): ?(.*)$")


def python_reader(stream: Any) -> int:
    """Frames in `stream` (a binary file), read the way a plain pyserial driver reads:
    ``readline()`` per line, regexes per line, ``read(n)`` for length-prefixed data."""
    frames = 0
    while True:
        line = stream.readline()
        if not line:
            return frames
        body = line.rstrip(b"\r\n")
        if not body:
            continue
        if body.startswith(b">"):
            frames += 1
            continue
        m = RX_PART.match(body)
        if m:
            stream.read(int(m.group(3)))
            frames += 1
            continue
        m = QMT_RECV.match(body)
        if m:
            n = int(m.group(4))
            rest = line[m.end() :]
            if len(rest) < n + 1:
                rest += stream.read(n + 1 - len(rest))
                stream.readline()
            frames += 1
            continue
        if FINAL.match(body) or RX_START.match(body) or INFO.match(body):
            frames += 1
            continue
        frames += 1  # echo or other text line


def mem_serial(data: bytes) -> Any:
    """A pyserial port object over bytes in memory: its ``readline`` is pyserial's own
    ``read_until`` (one ``read(1)`` per byte), minus the system calls of a real port."""
    import io

    from serial.serialutil import SerialBase

    class MemSerial(SerialBase):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(port=None, timeout=None)
            self._buf = io.BytesIO(data)

        def read(self, size: int = 1) -> bytes:
            return self._buf.read(size)

    return MemSerial()


def codec_py(path: str) -> None:
    import io

    data = Path(path).read_bytes()
    readers = {
        # pyserial's read_until, as a plain pyserial driver reads lines
        "codec_python_pyserial": lambda: mem_serial(data),
        # C readline of io.BufferedReader: the fastest a pure-Python line reader gets
        "codec_python_bufferedio": lambda: io.BufferedReader(io.BytesIO(data), 4096),
    }
    for figure, make in readers.items():
        best = None
        frames = 0
        for _ in range(2 if figure.endswith("pyserial") else 3):
            start = time.perf_counter()
            frames = python_reader(make())
            took = time.perf_counter() - start
            best = took if best is None else min(best, took)
        assert best is not None
        emit(
            figure,
            bytes=len(data),
            frames=frames,
            seconds=round(best, 3),
            mb_per_s=round(len(data) / best / 1e6, 2),
            loadavg=loadavg(),
        )


# --------------------------------------------------------------------------------------
# helpers


@contextmanager
def fast_source(family: str = "cmqtt") -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "fastsource.py"), family],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        yield proc, path
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def tell(proc: subprocess.Popen[str], job: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(job + "\n")
    proc.stdin.flush()


def wait_done(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "done":
        raise RuntimeError(f"fast source: expected 'done', got {line!r}")


def broker_of(vm: Any) -> tuple[str, int]:
    url = urlparse(vm.broker_url)
    return url.hostname or "127.0.0.1", url.port or 1883


class Counter:
    """An ``on_message`` callback counting calls; ``event`` fires at ``target``."""

    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.event = threading.Event()
        self.first = 0.0
        self.last = 0.0

    def __call__(self, _msg: object) -> None:
        self.count += 1
        if self.count == 1:
            self.first = time.perf_counter()
        if self.count == self.target:
            self.last = time.perf_counter()
            self.event.set()


def client_on(port: str, counter: Counter, broker: tuple[str, int], topic: str) -> tuple[Any, Any]:
    import modemqtt

    modem = modemqtt.Modem(port, timeout=10.0)
    client = modem.mqtt(f"rx-{uuid.uuid4().hex[:8]}", 0, queue_size=2_000_000)
    client.on_message = counter
    client.connect(*broker)
    client.subscribe(topic, qos=0)
    return modem, client


def close_client(modem: Any, client: Any) -> None:
    try:
        client.disconnect()
    finally:
        client.close()
        modem.close()


# --------------------------------------------------------------------------------------
# 2. inbound, unpaced


def inbound_fast_modemqtt(n: int) -> dict[str, object]:
    with fast_source() as (proc, path):
        counter = Counter(n)
        modem, client = client_on(path, counter, ("127.0.0.1", 1883), "bench/fast")
        try:
            start = time.perf_counter()
            tell(proc, f"flood {n}")
            complete = counter.event.wait(120)
            end = counter.last if complete else time.perf_counter()
            wait_done(proc)
            dropped = client.dropped
        finally:
            close_client(modem, client)
    secs = end - start
    return {
        "messages": counter.count,
        "seconds": round(secs, 3),
        "msgs_per_s": round(counter.count / secs, 1),
        "dropped": dropped,
        "complete": complete,
    }


def pyat_count(client: Any, n: int, deadline: float) -> tuple[int, float]:
    """Takes URCs from pyatcommand's queue until n ``+CMQTTRXEND`` arrived; returns the
    count and the time of the last one."""
    got = 0
    last = time.perf_counter()
    while got < n and time.perf_counter() < deadline:
        urc = client.get_urc(timeout=0.5)
        if urc is None:
            continue
        if urc.startswith("+CMQTTRXEND"):
            got += 1
            last = time.perf_counter()
    return got, last


def inbound_fast_pyat(n: int) -> dict[str, object]:
    from pyatcommand import AtClient

    with fast_source() as (proc, path):
        client = AtClient()
        client.connect(port=path, baudrate=115200, autobaud=False, retry_timeout=10)
        try:
            start = time.perf_counter()
            tell(proc, f"flood {n}")
            got, last = pyat_count(client, n, start + 60)
            wait_done(proc)
        finally:
            client.disconnect()
    secs = last - start
    # Each message is six lines (START, TOPIC, topic, PAYLOAD, payload, END).
    return {
        "messages": got,
        "seconds": round(secs, 3),
        "msgs_per_s": round(got / secs, 1),
        "urc_lines_per_s": round(6 * got / secs, 1),
        "complete": got == n,
    }


def flood_vm(
    vm: Any, topic: str, seconds: float, rate: float | None
) -> tuple[threading.Event, list[int]]:
    """Publishes 64-byte messages to `topic` through the embedded broker from a paho client
    on a thread, unpaced (rate None) or at `rate` messages/s; returns a stop event and a
    one-element list with the count sent."""
    import paho.mqtt.client as paho

    host, port = broker_of(vm)
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"flood-{uuid.uuid4().hex[:8]}")
    pub.connect(host, port)
    pub.loop_start()
    stop = threading.Event()
    sent = [0]

    def run() -> None:
        start = time.perf_counter()
        try:
            while not stop.is_set() and time.perf_counter() - start < seconds:
                if rate is None:
                    for _ in range(100):
                        pub.publish(topic, PAYLOAD, qos=0)
                    sent[0] += 100
                    time.sleep(0.0005)
                else:
                    due = int((time.perf_counter() - start) * rate) - sent[0]
                    for _ in range(max(0, min(due, 1000))):
                        pub.publish(topic, PAYLOAD, qos=0)
                        sent[0] += 1
                    time.sleep(0.002)
        finally:
            pub.loop_stop()
            pub.disconnect()

    threading.Thread(target=run, daemon=True).start()
    return stop, sent


@contextmanager
def flood_vm_c(vm: Any, topic: str) -> Iterator[str]:
    """Publishes 64-byte messages to `topic` as fast as the broker takes them from
    ``mosquitto_pub -l`` (C, its own process, one message per stdin line) fed by a thread
    writing pre-built lines, so that the publisher is not the limit of the figure; yields
    the publisher's name. Falls back to the paho publisher when mosquitto_pub is missing."""
    import shutil

    exe = shutil.which("mosquitto_pub")
    if exe is None:
        stop, _ = flood_vm(vm, topic, 3600, None)
        try:
            yield "paho (mosquitto_pub not found)"
        finally:
            stop.set()
        return
    host, port = broker_of(vm)
    proc = subprocess.Popen(
        [exe, "-h", host, "-p", str(port), "-t", topic, "-q", "0", "-l", "-V", "mqttv311"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    line = PAYLOAD[:63].replace(b"\n", b".") + b"\n"
    block = line * 1000
    stop = threading.Event()

    def feed() -> None:
        try:
            while not stop.is_set():
                proc.stdin.write(block)  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError, OSError):
            pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        yield "mosquitto_pub -l"
    finally:
        stop.set()
        proc.kill()
        proc.wait(timeout=10)
        t.join(timeout=10)


def window_rate(counter: Counter, warmup: float, window: float) -> tuple[float, int]:
    time.sleep(warmup)
    c0, t0 = counter.count, time.perf_counter()
    time.sleep(window)
    c1, t1 = counter.count, time.perf_counter()
    return (c1 - c0) / (t1 - t0), c1 - c0


def inbound_vm_modemqtt(seconds: float) -> dict[str, object]:
    import modemqtt

    with modemqtt.VirtualModem("a7600") as vm:
        topic = f"bench/{uuid.uuid4().hex[:10]}"
        counter = Counter(-1)
        modem, client = client_on(vm.port, counter, broker_of(vm), topic)
        try:
            with flood_vm_c(vm, topic) as publisher:
                rate, n = window_rate(counter, 1.0, seconds)
            dropped = client.dropped
        finally:
            close_client(modem, client)
    return {
        "messages": n,
        "seconds": seconds,
        "msgs_per_s": round(rate, 1),
        "dropped": dropped,
        "publisher": publisher,
    }


def inbound_vm_pyat(seconds: float) -> dict[str, object]:
    import modemqtt
    from pyatcommand import AtClient

    with modemqtt.VirtualModem("a7600") as vm:
        host, port = broker_of(vm)
        topic = f"bench/{uuid.uuid4().hex[:10]}"
        client = AtClient()
        client.connect(port=vm.port, baudrate=115200, autobaud=False, retry_timeout=10)
        try:
            for cmd in (
                "AT+CMQTTSTART",
                'AT+CMQTTACCQ=0,"pyat",0',
                f'AT+CMQTTCONNECT=0,"tcp://{host}:{port}",60,1',
            ):
                client.send_command(cmd, timeout=10)
            time.sleep(0.3)
            # pyatcommand has no prompt-then-data exchange that fits AT+CMQTTSUB: send the
            # command without waiting, then the topic bytes after the prompt, straight to
            # its serial port (setup only; the measured part is its reader and URC queue).
            client.send_command(f"AT+CMQTTSUB=0,{len(topic)},0", timeout=None)
            time.sleep(0.2)
            client._serial.write(topic.encode())  # noqa: SLF001
            time.sleep(0.5)
            while client.get_urc(timeout=0.1) is not None:
                pass
            stop, _ = flood_vm(vm, topic, seconds + 1, None)
            time.sleep(1.0)
            t0 = time.perf_counter()
            got, _ = pyat_count(client, 10**9, t0 + seconds)
            t1 = time.perf_counter()
            stop.set()
            backlog = 0
        finally:
            client.disconnect()
    return {
        "messages": got,
        "seconds": round(t1 - t0, 2),
        "msgs_per_s": round(got / (t1 - t0), 1),
        "queued_unread": backlog,
    }


def inbound(n: int, seconds: float) -> None:
    fast = inbound_fast_modemqtt(n)
    fast_pyat = inbound_fast_pyat(min(n, 20_000))
    emit("inbound_fast_modemqtt", source="fast", payload_bytes=64, **fast, loadavg=loadavg())
    emit(
        "inbound_fast_pyatcommand",
        source="fast",
        payload_bytes=64,
        **fast_pyat,
        ratio=round(float(fast["msgs_per_s"]) / float(fast_pyat["msgs_per_s"]), 1),  # type: ignore[arg-type]
        loadavg=loadavg(),
    )
    vm = inbound_vm_modemqtt(seconds)
    vm_pyat = inbound_vm_pyat(seconds)
    emit("inbound_vm_modemqtt", source="vm", payload_bytes=64, **vm, loadavg=loadavg())
    emit(
        "inbound_vm_pyatcommand",
        source="vm",
        payload_bytes=64,
        **vm_pyat,
        ratio=round(float(vm["msgs_per_s"]) / max(float(vm_pyat["msgs_per_s"]), 0.1), 1),  # type: ignore[arg-type]
        loadavg=loadavg(),
    )


# --------------------------------------------------------------------------------------
# 3. paced


def paced(seconds: float) -> None:
    import modemqtt

    wire = len(fastsource.rx_block(PAYLOAD, b"bench/0123456789"))
    for baud in (115200, 921600):
        with modemqtt.VirtualModem("a7600") as vm:
            topic = "bench/" + uuid.uuid4().hex[:10]
            assert len(topic) == len("bench/0123456789")
            counter = Counter(-1)
            modem, client = client_on(vm.port, counter, broker_of(vm), topic)
            try:
                vm.set_baudrate(baud)
                bound = baud / 10 / wire
                # Keep the modem's output saturated: offer twice what the line carries.
                stop, _ = flood_vm(vm, topic, seconds + 2, bound * 2.0)
                rate, n = window_rate(counter, 1.0, seconds)
                stop.set()
                vm.set_baudrate(None)
            finally:
                close_client(modem, client)
        emit(
            f"paced_{baud}",
            baud=baud,
            bytes_per_msg=wire,
            bound_msgs_per_s=round(bound, 1),
            msgs_per_s=round(rate, 1),
            messages=n,
            fraction=round(rate / bound, 4),
            loadavg=loadavg(),
        )


# --------------------------------------------------------------------------------------
# 4. latency


def latency(n: int, gap_us: int) -> None:
    import modemqtt

    lat: list[int] = []

    def on_message(msg: modemqtt.Message) -> None:
        now = time.monotonic_ns()
        lat.append(now - int(msg.payload[:20]))

    with fast_source() as (proc, path):
        modem = modemqtt.Modem(path, timeout=10.0)
        client = modem.mqtt("lat", 0)
        client.on_message = on_message
        client.connect("127.0.0.1", 1883)
        client.subscribe("bench/fast", qos=0)
        try:
            tell(proc, f"timed {n} {gap_us}")
            wait_done(proc)
            deadline = time.monotonic() + 10
            while len(lat) < n and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            close_client(modem, client)
    us = sorted(x / 1000 for x in lat)
    q = statistics.quantiles(us, n=100)
    emit(
        "latency",
        source="fast",
        messages=len(us),
        gap_us=gap_us,
        p50_us=round(q[49], 1),
        p99_us=round(q[98], 1),
        max_us=round(us[-1], 1),
        loadavg=loadavg(),
    )


# --------------------------------------------------------------------------------------
# 5. publish


ECHO_OK = r"""
import os, sys, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
os.write(1, b"ready\n")
buf = b""
while True:
    data = os.read(fd, 4096)
    if not data:
        break
    buf += data
    while b"\r" in buf:
        _, buf = buf.split(b"\r", 1)
        os.write(fd, b"\r\nOK\r\n")
"""


def pty_floor(seconds: float) -> float:
    """Bare pty round trips per second on this machine: a minimal responder in its own
    process answers each ``AT`` line with ``OK`` and the driver writes and reads with plain
    os calls (no parsing, no threads). Each CMQTT publish needs five such exchanges."""
    import pty
    import tty

    master, slave = pty.openpty()
    tty.setraw(master)
    path = os.ttyname(slave)
    child = subprocess.Popen(
        [sys.executable, "-c", ECHO_OK, path], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()
        k = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            os.write(master, b"AT\r")
            got = b""
            while not got.endswith(b"OK\r\n"):
                got += os.read(master, 64)
            k += 1
        return k / (time.perf_counter() - t0)
    finally:
        child.kill()
        child.wait(timeout=10)
        os.close(master)
        os.close(slave)


# What one publish costs in AT exchanges (a command or data block and its answer), per family:
# CMQTT: AT+CMQTTTOPIC -> ">", topic -> OK, AT+CMQTTPAYLOAD -> ">", payload -> OK,
# AT+CMQTTPUB -> OK (+CMQTTPUB); QMT: AT+QMTPUBEX=...,<len> -> ">", payload -> OK
# (+QMTPUBEX); Alibaba: AT+CMPUB="<topic>",<qos>,"<message>" -> OK.
PUBLISH_EXCHANGES = {"a7600": 5, "ec20": 2, "sim7600-aliyun": 1}
ALIYUN = ("CwlekguDcv3", "device", "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu")


def publish_rate(
    client: Any, topic: str, payload: bytes, qos: int, seconds: float, floor: float, exchanges: int
) -> dict[str, object]:
    """Publishes for `seconds` (after one warm-up publish); the rate and its bound."""
    client.publish(topic, payload, qos=qos)
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        client.publish(topic, payload, qos=qos)
        count += 1
    took = time.perf_counter() - start
    bound = floor / exchanges
    return {
        "payload_bytes": len(payload),
        "publishes": count,
        "seconds": round(took, 2),
        "per_s": round(count / took, 1),
        "exchanges": exchanges,
        "bare_pty_round_trips_per_s": round(floor, 1),
        "bound_per_s": round(bound, 1),
        "fraction_of_bound": round(count / took / bound, 3),
    }


def publish(seconds: float) -> None:
    import modemqtt

    floor = pty_floor(min(seconds, 2.0))

    for profile, exchanges in PUBLISH_EXCHANGES.items():
        with modemqtt.VirtualModem(profile) as vm, modemqtt.Modem(vm.port, timeout=10.0) as modem:
            modem.command("AT")
            t0 = time.perf_counter()
            k = 0
            while time.perf_counter() - t0 < 1.0:
                modem.command("AT")
                k += 1
            at_rate = k / (time.perf_counter() - t0)
            if profile.endswith("-aliyun"):
                vm.set_sign_timestamp(False)
                client = modem.aliyun_mqtt(*ALIYUN)
                client.connect()
                topic = f"/{ALIYUN[0]}/{ALIYUN[1]}/user/publish"
                payload = PAYLOAD.replace(b"+", b"-").replace(b"/", b"_")
            else:
                client = modem.mqtt(f"tx-{uuid.uuid4().hex[:8]}", 0)
                client.connect(*broker_of(vm))
                topic, payload = "bench/publish", PAYLOAD
            for qos in (0, 1):
                rate = publish_rate(client, topic, payload, qos, seconds, floor, exchanges)
                emit(
                    f"publish_qos{qos}" + ("" if profile == "a7600" else f"_{profile}"),
                    profile=profile,
                    **rate,
                    at_round_trips_per_s=round(at_rate, 1),
                    loadavg=loadavg(),
                )
            client.disconnect()
            client.close()

    # The client alone: the same publishes against a scripted modem in its own process
    # (bench/fastsource.py answering each prompt and command at once, no MQTT behind it),
    # so that the virtual modem's own work (its link, the broker) is out of the figure.
    for family, exchanges in (("cmqtt", 5), ("qmt", 2)):
        with fast_source(family) as (_, path), modemqtt.Modem(path, timeout=10.0) as modem:
            client = modem.mqtt(f"tx-{uuid.uuid4().hex[:8]}", 0)
            client.connect("127.0.0.1", 1883)
            for qos in (0, 1):
                rate = publish_rate(
                    client, "bench/publish", PAYLOAD, qos, seconds, floor, exchanges
                )
                emit(
                    f"publish_scripted_qos{qos}_{family}", family=family, **rate, loadavg=loadavg()
                )
            client.disconnect()
            client.close()


# --------------------------------------------------------------------------------------
# 6. idle


def proc_cpu_rss(pid: int) -> tuple[float, int]:
    """CPU seconds used so far and resident bytes of process `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def idle_modems(count: int) -> None:
    """Runs in a child process: `count` virtual modems (and the embedded broker); prints the
    broker URL and the ports, then waits for stdin to close."""
    import modemqtt

    vms = [modemqtt.VirtualModem("a7600") for _ in range(count)]
    print(json.dumps({"broker": vms[0].broker_url, "ports": [v.port for v in vms]}), flush=True)
    sys.stdin.read()
    for v in vms:
        v.close()


def idle(count: int, seconds: float) -> None:
    import modemqtt

    cpu0, rss0 = proc_cpu_rss(os.getpid())
    child = subprocess.Popen(
        [sys.executable, __file__, "idle-modems", str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    info = json.loads(child.stdout.readline())
    broker = urlparse(info["broker"])
    modems = []
    clients = []
    try:
        for port in info["ports"]:
            m = modemqtt.Modem(port, timeout=10.0)
            c = m.mqtt(f"idle-{uuid.uuid4().hex[:8]}", 0)
            c.connect(broker.hostname or "127.0.0.1", broker.port or 1883)
            c.subscribe("bench/idle", qos=0)
            modems.append(m)
            clients.append(c)
        time.sleep(2.0)  # let connection set-up settle
        c_cpu0, c_rss = proc_cpu_rss(os.getpid())
        v_cpu0, v_rss = proc_cpu_rss(child.pid)
        t0 = time.monotonic()
        time.sleep(seconds)
        took = time.monotonic() - t0
        c_cpu1, c_rss = proc_cpu_rss(os.getpid())
        v_cpu1, v_rss = proc_cpu_rss(child.pid)
    finally:
        for c, m in zip(clients, modems):
            try:
                c.disconnect()
            except modemqtt.ModemError:
                pass
            c.close()
            m.close()
        child.stdin.close()
        child.wait(timeout=60)
    emit(
        "idle",
        modems=count,
        seconds=round(took, 1),
        client_cpu_pct=round(100 * (c_cpu1 - c_cpu0) / took, 3),
        client_rss_mib_per_modem=round((c_rss - rss0) / count / 2**20, 3),
        client_rss_mib_total=round(c_rss / 2**20, 1),
        vm_cpu_pct=round(100 * (v_cpu1 - v_cpu0) / took, 3),
        vm_rss_mib_total=round(v_rss / 2**20, 1),
        vm_rss_mib_per_modem=round(v_rss / count / 2**20, 3),
        loadavg=loadavg(),
    )
    del cpu0


# --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "part",
        choices=[
            "machine",
            "codec-py",
            "inbound",
            "paced",
            "latency",
            "publish",
            "idle",
            "idle-modems",
            "all",
        ],
    )
    parser.add_argument("arg", nargs="?", default="")
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--modems", type=int, default=64)
    parser.add_argument("--latency-messages", type=int, default=10_000)
    parser.add_argument("--gap-us", type=int, default=500)
    a = parser.parse_args()
    part = a.part
    if part == "idle-modems":
        idle_modems(int(a.arg))
        return
    if part in ("machine", "all"):
        import modemqtt

        cpu = "?"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        emit(
            "machine",
            cpu=cpu,
            cores=os.cpu_count(),
            python=platform.python_version(),
            kernel=platform.release(),
            modemqtt=str(Path(modemqtt.__file__).parent),
            loadavg=loadavg(),
        )
    if part == "codec-py":
        codec_py(a.arg)
    if part in ("inbound", "all"):
        inbound(a.messages, a.seconds)
    if part in ("paced", "all"):
        paced(a.seconds)
    if part in ("latency", "all"):
        latency(a.latency_messages, a.gap_us)
    if part in ("publish", "all"):
        publish(a.seconds)
    if part in ("idle", "all"):
        idle(a.modems, a.idle_seconds)


if __name__ == "__main__":
    main()

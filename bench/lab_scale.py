"""Many modems at once: N virtual modems, each receiving a steady flow and publishing, all
delivering to Python callbacks in one process.

Two processes, so that the figures of the measured one are the library's own:

* the **lab** (``--serve``, started by this script): N ``VirtualModem``s of one profile on
  ptys, all behind one mosquitto (started here on a free port), and per modem one
  ``mosquitto_pub -l`` fed at ``--rate`` messages/s by a pacing thread (64-byte text
  payloads starting with ``time.monotonic_ns()`` at the write);
* the **host** (this process): per modem a ``Modem`` on the pty and a client subscribed to
  its modem's topic with an ``on_message`` callback (count, latency), plus one publisher
  thread per modem at ``--up-rate`` messages/s (QoS 0).

For each N of ``--counts`` (default 1, 4, 16, 32) and each profile, after a warm-up second,
a window of ``--seconds`` is measured. One JSON line per (profile, N)::

    {"figure": "lab_scale", "profile": "a7600", "modems": 32, "rate_per_modem": 500,
     "offered_msgs_per_s": 16000, "delivered_msgs_per_s": 15870.2, "drops": 0,
     "missing": 0, "published": 1600, "publish_errors": 0,
     "cpu_us_per_msg": 61.2, "cpu_ratio_vs_1": 1.21, "host_cpu_percent": 97.1,
     "p99_ms_max": 8.1, "p99_ms_median": 4.2, "p50_ms_median": 1.1,
     "rss_mib_per_modem": 0.9, "loadavg": [...]}

``drops`` counts messages the library dropped (its queues full: ``client.dropped``);
``missing`` those the lab fed and no callback saw by the end of a drain (at most 10 s after
the window). ``cpu_us_per_msg`` is the host process's CPU time (every thread) over the
messages it moved (received + published); ``cpu_ratio_vs_1`` compares it with N=1 of the
same run. Alibaba profiles poll their messages (``AT+CMYIELD``), so their flows are slower
(``--aliyun-rate``).

Usage: python bench/lab_scale.py [--profiles a7600,ec20,sim7600-aliyun] [--counts 1,4,16,32]
       [--rate 500] [--aliyun-rate 20] [--up-rate 5] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
PK = "CwlekguDcv3"
DS = "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu"
PAYLOAD_BYTES = 64


def is_aliyun(profile: str) -> bool:
    return profile.endswith("-aliyun")


def topics(profile: str, i: int) -> tuple[str, str]:
    """The down (fed by the lab) and up (published by the host) topics of modem i."""
    if is_aliyun(profile):
        return f"/{PK}/dev{i}/user/down", f"/{PK}/dev{i}/user/up"
    return f"lab/{i}/down", f"lab/{i}/up"


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# --------------------------------------------------------------------------------------
# the lab process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mosquitto() -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    conf.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    conf.close()
    proc = subprocess.Popen([exe, "-c", conf.name], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("lab_scale: mosquitto did not listen within 10 s")


def line(seq: int) -> bytes:
    head = f"{time.monotonic_ns()}:{seq}:".encode()
    return head + b"x" * (PAYLOAD_BYTES - len(head) - 1) + b"\n"


def serve(profile: str, n: int, rate: float, broker_port: int) -> None:
    """Starts the virtual modems, prints their ptys, then on "start" feeds every modem's
    topic at `rate` until "stop"; prints the counts fed."""
    import modemqtt

    url = f"mqtt://127.0.0.1:{broker_port}"
    vms = [modemqtt.VirtualModem(profile, broker=url) for _ in range(n)]
    if is_aliyun(profile):
        for vm in vms:
            vm.set_sign_timestamp(False)
    exe = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
    pubs = [
        subprocess.Popen(
            [exe, "-h", "127.0.0.1", "-p", str(broker_port), "-t", topics(profile, i)[0]]
            + ["-q", "0", "-l", "-V", "mqttv311"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(n)
    ]
    print(json.dumps({"ports": [vm.port for vm in vms]}), flush=True)
    fed = [0] * n
    stop = threading.Event()

    def feed() -> None:
        start = time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - start) * rate)
            for i, p in enumerate(pubs):
                k = min(due - fed[i], 1000)
                if k > 0 and p.stdin is not None:
                    p.stdin.write(b"".join(line(fed[i] + j) for j in range(k)))
                    p.stdin.flush()
                    fed[i] += k
            stop.wait(0.005)

    feeder = threading.Thread(target=feed, daemon=True)
    for cmd in sys.stdin:
        cmd = cmd.strip()
        if cmd == "start":
            feeder.start()
        elif cmd == "stop":
            stop.set()
            feeder.join(timeout=10)
            print(json.dumps({"fed": fed}), flush=True)
        elif cmd == "quit":
            break
    for p in pubs:
        if p.stdin is not None:
            p.stdin.close()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
    for vm in vms:
        vm.close()


# --------------------------------------------------------------------------------------
# the host process


class Lab:
    """The lab process seen from the host: ask, and read its JSON answers with a deadline."""

    def __init__(self, profile: str, n: int, rate: float, broker_port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), "--serve", profile, str(n), str(rate), str(broker_port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def tell(self, cmd: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        box: list[str] = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        t.daemon = True
        t.start()
        t.join(timeout)
        if not box or not box[0]:
            raise SystemExit(f"lab_scale: the lab process gave no answer within {timeout} s")
        return json.loads(box[0])

    def close(self) -> None:
        try:
            self.tell("quit")
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)


class Sink:
    """One modem's on_message: counts and latencies (ns from the lab's write)."""

    def __init__(self) -> None:
        self.count = 0
        self.lat: list[int] = []
        self.measuring = False

    def __call__(self, msg: Any) -> None:
        now = time.monotonic_ns()
        self.count += 1
        if self.measuring:
            sent = int(bytes(msg.payload).split(b":", 1)[0])
            self.lat.append(now - sent)


def host(
    profile: str, n: int, rate: float, up_rate: float, seconds: float, broker_port: int
) -> dict[str, Any]:
    import modemqtt

    lab = Lab(profile, n, rate, broker_port)
    modems: list[Any] = []
    clients: list[Any] = []
    try:
        ports = lab.answer()["ports"]
        rss0 = rss_mib()
        sinks = [Sink() for _ in range(n)]
        for i, port in enumerate(ports):
            m = modemqtt.Modem(port, timeout=20.0)
            modems.append(m)
            if is_aliyun(profile):
                c = m.aliyun_mqtt(PK, f"dev{i}", DS, poll_interval=0.02, queue_size=100_000)
                c.connect()
            else:
                c = m.mqtt(f"lab-{os.getpid()}-{i}", 0, queue_size=100_000)
                c.connect("127.0.0.1", broker_port)
            c.on_message = sinks[i]
            c.subscribe(topics(profile, i)[0], qos=0)
            clients.append(c)
        published = [0] * n
        errors = [0] * n
        stop = threading.Event()

        def publisher(i: int) -> None:
            up = topics(profile, i)[1]
            start = time.monotonic()
            while not stop.is_set():
                if published[i] + errors[i] < int((time.monotonic() - start) * up_rate):
                    try:
                        clients[i].publish(up, b"up", qos=0, timeout=10)
                        published[i] += 1
                    except modemqtt.ModemError:
                        errors[i] += 1
                stop.wait(0.01)

        threads = [threading.Thread(target=publisher, args=(i,), daemon=True) for i in range(n)]
        lab.tell("start")
        for t in threads:
            t.start()
        time.sleep(1.0)  # warm-up
        for s in sinks:
            s.measuring = True
        c0 = [s.count for s in sinks]
        p0 = sum(published)
        cpu0, t0 = time.process_time(), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = time.process_time(), time.monotonic()
        c1 = [s.count for s in sinks]
        p1 = sum(published)
        rss1 = rss_mib()
        stop.set()
        for t in threads:
            t.join(timeout=15)
        lab.tell("stop")
        fed = lab.answer()["fed"]
        drain = time.monotonic() + 10
        while time.monotonic() < drain and any(s.count < f for s, f in zip(sinks, fed)):
            time.sleep(0.05)
        for s in sinks:
            s.measuring = False
        received = sum(b - a for a, b in zip(c0, c1))
        moved = received + (p1 - p0)
        p99s = []
        p50s = []
        for s in sinks:
            lat = sorted(s.lat)
            if lat:
                p99s.append(lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1e6)
                p50s.append(lat[len(lat) // 2] / 1e6)
        row = {
            "figure": "lab_scale",
            "profile": profile,
            "modems": n,
            "rate_per_modem": rate,
            "offered_msgs_per_s": round(rate * n, 1),
            "delivered_msgs_per_s": round(received / (t1 - t0), 1),
            "drops": sum(c.dropped for c in clients),
            "missing": sum(max(0, f - s.count) for s, f in zip(sinks, fed)),
            "published": p1 - p0,
            "publish_errors": sum(errors),
            "cpu_us_per_msg": round((cpu1 - cpu0) / max(moved, 1) * 1e6, 2),
            "host_cpu_percent": round((cpu1 - cpu0) / (t1 - t0) * 100, 1),
            "p99_ms_max": round(max(p99s), 2) if p99s else None,
            "p99_ms_median": round(statistics.median(p99s), 2) if p99s else None,
            "p50_ms_median": round(statistics.median(p50s), 2) if p50s else None,
            "rss_mib_per_modem": round((rss1 - rss0) / n, 2),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        }
        return row
    finally:
        for c in clients:
            c.close(timeout=5)
        for m in modems:
            m.close()
        lab.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        profile, n, rate, port = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        serve(profile, n, rate, port)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", default="a7600,ec20,sim7600-aliyun")
    ap.add_argument("--counts", default="1,4,16,32")
    ap.add_argument("--rate", type=float, default=500.0, help="msgs/s fed to each modem")
    ap.add_argument("--aliyun-rate", type=float, default=20.0)
    ap.add_argument("--up-rate", type=float, default=5.0, help="publishes/s per modem")
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    if any(c < 1 for c in counts):
        raise SystemExit("--counts: every count must be 1 or more")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))
    broker, port = start_mosquitto()
    try:
        for profile in args.profiles.split(","):
            rate = args.aliyun_rate if is_aliyun(profile) else args.rate
            base = None
            for n in counts:
                row = host(profile, n, rate, args.up_rate, args.seconds, port)
                if base is None:
                    base = row["cpu_us_per_msg"]
                row["cpu_ratio_vs_1"] = round(row["cpu_us_per_msg"] / base, 2) if base else None
                print(json.dumps(row), flush=True)
    finally:
        broker.terminate()
        broker.wait(timeout=10)


if __name__ == "__main__":
    main()

"""Round-trip overhead of each port kind against a direct pty, measured in one run.

One virtual modem (embedded broker) is reached four ways: its pty, its own TCP listener
(``socket://`` direct), ser2net raw in front of its pty (``socket://``) and ser2net in
telnet/RFC 2217 mode (``rfc2217://``). For each, two figures:

- ``at``: ``AT`` command round trips (host -> modem -> host): rate and median latency;
- ``publish_qos1``: ``publish(qos=1)`` until the modem reports the broker's PUBACK.

ser2net runs with its default configuration, and again tuned for round trips
(``-tuned``: ``chardelay: false`` and a ``tcp(nodelay)`` accepter). By default ser2net holds
serial data back for a few character times to send bigger TCP segments, which dominates
the round trip of short AT exchanges, and without TCP_NODELAY its small writes meet the
peer's delayed ACK (40 ms stalls in the tail).

One JSON line per figure on stdout, with ``ratio_to_pty`` (median latency over the pty's).
ser2net kinds are left out (one line saying so) when ser2net is not installed.

    python bench/port_overhead.py [--at N] [--publish N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from modemqtt import Modem, VirtualModem


def find_ser2net() -> str | None:
    found = shutil.which("ser2net")
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        path = os.path.join(folder, "ser2net")
        if os.access(path, os.X_OK):
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int, deadline: float) -> None:
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"ser2net never listened on {port}") from None
            time.sleep(0.02)


@contextmanager
def ser2net(exe: str, device: str, mode: str, tuned: bool) -> Iterator[str]:
    port = free_port()
    tcp = "tcp(nodelay)" if tuned else "tcp"
    accepter = tcp if mode == "raw" else f"telnet(rfc2217),{tcp}"
    options = "  options:\n    chardelay: false\n" if tuned else ""
    with tempfile.TemporaryDirectory() as folder:
        conf = Path(folder) / "ser2net.yaml"
        conf.write_text(
            "connection: &bench\n"
            f"  accepter: {accepter},127.0.0.1,{port}\n"
            f"  connector: serialdev,{device},115200n81,local\n" + options
        )
        proc = subprocess.Popen(
            [exe, "-d", "-n", "-u", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        try:
            listening(port, time.monotonic() + 10)
            # The probe connection made ser2net open and close the device; let it settle.
            time.sleep(0.5)
            yield f"{'socket' if mode == 'raw' else 'rfc2217'}://127.0.0.1:{port}"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def timed(fn: Callable[[], object], n: int) -> tuple[list[float], float]:
    """Latencies of n calls (seconds) and the total wall time."""
    lat = []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t0)
    return lat, time.perf_counter() - start


def measure(url: str, broker: tuple[str, int], n_at: int, n_pub: int) -> dict[str, dict]:
    with Modem(url, timeout=10.0) as modem:
        modem.command("AT")  # warm up
        at_lat, at_wall = timed(lambda: modem.command("AT"), n_at)
        with modem.mqtt(f"bench-{uuid.uuid4().hex[:8]}") as client:
            client.connect(*broker)
            topic = f"modemqtt/bench/{uuid.uuid4().hex[:8]}"
            payload = b"x" * 64
            client.publish(topic, payload, qos=1)  # warm up
            pub_lat, pub_wall = timed(lambda: client.publish(topic, payload, qos=1), n_pub)
            client.disconnect()
    return {
        "at": {"n": n_at, "lat": at_lat, "wall": at_wall},
        "publish_qos1": {"n": n_pub, "lat": pub_lat, "wall": pub_wall},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--at", type=int, default=300, help="AT round trips per kind")
    parser.add_argument("--publish", type=int, default=100, help="QoS 1 publishes per kind")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per kind")
    args = parser.parse_args()
    if min(args.at, args.publish, args.rounds) < 1:
        parser.error("--at, --publish and --rounds must be at least 1")

    exe = find_ser2net()
    kinds = [
        "pty",
        "tcp",
        "ser2net-raw",
        "ser2net-rfc2217",
        "ser2net-raw-tuned",
        "ser2net-rfc2217-tuned",
    ]
    if exe is None:
        print(json.dumps({"note": "ser2net not installed: ser2net kinds skipped"}), flush=True)
        kinds = kinds[:2]
    samples: dict[str, dict[str, list[float]]] = {k: {} for k in kinds}
    walls: dict[str, dict[str, float]] = {k: {} for k in kinds}
    with VirtualModem("a7600", listen="127.0.0.1:0") as vm:
        parts = urlsplit(vm.broker_url)
        broker = (parts.hostname or "127.0.0.1", parts.port or 1883)
        # Rounds interleave the kinds so drift on a shared machine hits each alike.
        for _ in range(args.rounds):
            for kind in kinds:
                if kind == "pty":
                    got = measure(vm.port, broker, args.at, args.publish)
                elif kind == "tcp":
                    assert vm.tcp_url is not None
                    got = measure(vm.tcp_url, broker, args.at, args.publish)
                else:
                    assert exe is not None
                    mode = "raw" if kind.startswith("ser2net-raw") else "rfc2217"
                    with ser2net(exe, vm.port, mode, kind.endswith("-tuned")) as url:
                        got = measure(url, broker, args.at, args.publish)
                for figure, r in got.items():
                    samples[kind].setdefault(figure, []).extend(r["lat"])
                    walls[kind][figure] = walls[kind].get(figure, 0.0) + r["wall"]

    base = {f: statistics.median(v) for f, v in samples["pty"].items()}
    for kind in kinds:
        for figure, lat in samples[kind].items():
            med = statistics.median(lat)
            q = statistics.quantiles(lat, n=100)
            print(
                json.dumps(
                    {
                        "bench": "port_overhead",
                        "port": kind,
                        "figure": figure,
                        "n": len(lat),
                        "per_s": round(len(lat) / walls[kind][figure], 1),
                        "median_ms": round(med * 1000, 3),
                        "p90_ms": round(q[89] * 1000, 3),
                        "ratio_to_pty": round(med / base[figure], 2),
                        "overhead_ms": round((med - base[figure]) * 1000, 3),
                    }
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

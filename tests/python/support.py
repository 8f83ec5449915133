"""Small helpers shared by the suites. Nothing here imports modemqtt."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import tty
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from modemqtt import Modem, MqttClient

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


# The network timing preset the family suites' virtual modems use ("fast" or "realistic"; unset:
# the default, "fast"): `make test-realistic` runs the shared suite with "realistic".
SIM_TIMING_ENV = "MODEMQTT_SIM_TIMING"


def sim_timing() -> str | None:
    """$MODEMQTT_SIM_TIMING, or None when unset or empty (the virtual modem's default)."""
    return os.environ.get(SIM_TIMING_ENV) or None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def host_port(url: str) -> tuple[str, int]:
    """("127.0.0.1", 1883) from "mqtt://127.0.0.1:1883"."""
    parts = urlsplit(url)
    assert parts.hostname, url
    return parts.hostname, parts.port or 1883


def unique_topic(prefix: str = "modemqtt/test") -> str:
    """A topic no other test uses, so retained messages and parallel runs cannot collide."""
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def find_exe(name: str) -> str | None:
    """``name`` on PATH, or in the sbin folders Debian puts daemons in."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    return None


def require_exe(name: str, reason: str) -> str:
    """The path of executable ``name``, or skip with ``reason`` (fail instead when
    MODEMQTT_REQUIRE_MOSQUITTO is set: CI demands the tools)."""
    exe = find_exe(name)
    if exe is None:
        if os.environ.get("MODEMQTT_REQUIRE_MOSQUITTO"):
            pytest.fail(f"{reason} (MODEMQTT_REQUIRE_MOSQUITTO is set)")
        pytest.skip(reason)
    return exe


@contextlib.contextmanager
def run_mosquitto(exe: str, conf: Path, ports: Iterable[int]) -> Iterator[None]:
    """Runs mosquitto with ``conf`` (its output in mosquitto.log beside it) and waits up to
    15 s until every port in ``ports`` on 127.0.0.1 accepts; stops it on exit."""
    log_path = conf.parent / "mosquitto.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 15
            for port in ports:
                while True:
                    if proc.poll() is not None:
                        pytest.fail(
                            f"mosquitto exited with {proc.returncode}: {log_path.read_text()}"
                        )
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            pytest.fail(
                                f"mosquitto never accepted on {port}: {log_path.read_text()}"
                            )
                        time.sleep(0.05)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def new_id(prefix: str = "t") -> str:
    """A client id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def connected(
    modem: Modem, broker: tuple[str, int], index: int = 0, client_kwargs: Any = None, **kwargs: Any
) -> MqttClient:
    """A client on ``index`` connected to ``broker``; ``kwargs`` go to ``connect``."""
    client = modem.mqtt(new_id(), index, **(client_kwargs or {}))
    client.connect(broker[0], broker[1], **kwargs)
    assert client.is_connected()
    return client


def round_trip_in_order(client: MqttClient, topic: str, count: int, timeout: float) -> list[bytes]:
    """Subscribes ``client`` to ``topic`` (QoS 1), publishes ``m0``, ``m1``, ... (``count``
    of them, QoS 1) there and returns the first ``count`` payloads ``client.messages(timeout)``
    yields."""
    client.subscribe(topic, qos=1)
    for i in range(count):
        client.publish(topic, f"m{i}", qos=1)
    got = []
    for msg in client.messages(timeout=timeout):
        got.append(msg.payload)
        if len(got) == count:
            break
    return got


def vm_and_modem(profile: str) -> tuple[Any, Any]:
    """The ``vm`` and ``modem`` fixtures of a module whose tests run on one profile: a fresh
    VirtualModem of ``profile`` for each test and a Modem on its port (10 s timeout);
    ``vm, modem = vm_and_modem("sara-r5")`` at the module's top."""
    from modemqtt import Modem, VirtualModem

    @pytest.fixture
    def vm() -> Iterator[VirtualModem]:
        with VirtualModem(profile) as v:
            yield v

    @pytest.fixture
    def modem(vm: VirtualModem) -> Iterator[Modem]:
        with Modem(vm.port, timeout=10.0) as m:
            yield m

    return vm, modem


def tx_entries(modem: Modem) -> list[tuple[float, str, bytes]]:
    """The transcript entries the host wrote."""
    return [e for e in modem.transcript() if e[1] == "tx"]


@contextlib.contextmanager
def cli_sim(*args: str) -> Iterator[dict[str, Any]]:
    """``modemqtt sim <args> --json`` running: its JSON line (it comes first, flushed) within
    30 s; at the end of the block SIGTERM must stop it with status 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "modemqtt.cli", "sim", *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        first = b""
        deadline = time.monotonic() + 30
        while b"\n" not in first:
            assert time.monotonic() < deadline, f"no JSON line; got {first!r}"
            if select.select([proc.stdout], [], [], 0.2)[0]:
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, "the sim command ended early"
                first += chunk
        yield json.loads(first.split(b"\n")[0])
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    finally:
        end_process(proc)


def run_python(
    *args: str, timeout: float = 60, cwd: Path | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """This interpreter with ``args``, its output captured as text; stdin is ``input`` (or
    empty)."""
    return subprocess.run(
        [sys.executable, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL if input is None else None,
    )


def end_process(proc: subprocess.Popen[Any]) -> None:
    """Kills ``proc`` if it still runs (waiting 10 s at most) and closes its pipes."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m modemqtt.cli ARGS``, its output captured as text."""
    return run_python("-m", "modemqtt.cli", *args, timeout=timeout)


class MosquittoSub:
    """``mosquitto_sub`` as an independent peer.

    Started with ``-d`` so its SUBACK can be awaited before anything is published, and with an
    output format that prints retain, qos, length and the payload in hex, so binary payloads
    (CR, LF, NUL, "OK" inside) are compared byte for byte.
    """

    MARK = "=MSG="

    def __init__(self, url: str, topic: str, count: int = 1, wait: int = 10, qos: int = 0) -> None:
        exe = find_exe("mosquitto_sub")
        if exe is None:
            raise RuntimeError("mosquitto_sub not installed: apt-get install mosquitto-clients")
        host, port = host_port(url)
        self.argv = [
            exe,
            "-h",
            host,
            "-p",
            str(port),
            "-t",
            topic,
            "-q",
            str(qos),
            "-C",
            str(count),
            "-W",
            str(wait),
            "-d",
            "-F",
            f"{self.MARK} %r %q %l %x",
        ]
        self.lines: list[str] = []
        self._cond = threading.Condition()
        # Its stdout is a pty, not a pipe: stdio then flushes every line, so the SUBACK line
        # shows up while the process runs instead of at exit.
        self._out, slave = os.openpty()
        tty.setraw(slave)
        try:
            self.proc = subprocess.Popen(
                self.argv, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL
            )
        finally:
            os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._out, 4096)
            except OSError:  # EIO: the process is gone and its side of the pty closed
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            with self._cond:
                self.lines.extend(x.decode("utf-8", "replace").rstrip("\r") for x in complete)
                self._cond.notify_all()
        with self._cond:
            if pending:
                self.lines.append(pending.decode("utf-8", "replace").rstrip("\r"))
            self._cond.notify_all()

    def wait_subscribed(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any("SUBACK" in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"mosquitto_sub never subscribed: {self.lines!r}")
                self._cond.wait(min(left, 0.2))

    def messages(self, timeout: float = 20.0) -> list[tuple[bool, int, bytes]]:
        """Wait for mosquitto_sub to exit (after ``count`` messages or ``-W``); parse output."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(f"mosquitto_sub did not finish: {self.lines!r}") from None
        self._reader.join(timeout=5)
        out = []
        for line in self.lines:
            if line.startswith(self.MARK):
                fields = line.split(" ")
                retain, qos, length = fields[1], fields[2], fields[3]
                payload = bytes.fromhex(fields[4] if len(fields) > 4 else "")
                assert len(payload) == int(length), line
                out.append((retain == "1", int(qos), payload))
        return out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        if self._out >= 0:
            os.close(self._out)
            self._out = -1

    def __enter__(self) -> MosquittoSub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mosquitto_pub(url: str, topic: str, *args: str, timeout: float = 15.0) -> None:
    """Run ``mosquitto_pub`` once (e.g. ``"-m", "hi"``, ``"-n"``, ``"-f", path``)."""
    exe = find_exe("mosquitto_pub")
    if exe is None:
        raise RuntimeError("mosquitto_pub not installed: apt-get install mosquitto-clients")
    host, port = host_port(url)
    done = subprocess.run(
        [exe, "-h", host, "-p", str(port), "-t", topic, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr


class Paho:
    """A paho-mqtt client as an independent peer, with blocking helpers, every wait bounded."""

    def __init__(self, url: str, client_id: str = "", keepalive: int = 30) -> None:
        import paho.mqtt.client as mqtt  # a test dependency (make deps)

        host, port = host_port(url)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connack: int | None = None  # the CONNACK's return code
        self.granted: list[int] = []  # the last SUBACK's return codes
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        # connect_async before loop_start: connect() makes a socket pair that loop_start()
        # then replaces without closing (paho-mqtt 2.2), a ResourceWarning later.
        self.client.connect_async(host, port, keepalive=keepalive)
        self.client.loop_start()
        if not self._connected.wait(10):
            self.close()
            raise AssertionError(f"paho never connected to {url}")

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connack = rc.value
        self._connected.set()

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: list[Any], _p: Any) -> None:
        self.granted = [c.value for c in codes]
        self._subscribed.set()

    def subscribe(self, topic: str | list[tuple[str, int]], qos: int = 0) -> list[int]:
        """Subscribes to ``topic`` (or to each ``(filter, qos)`` of a list); returns the
        SUBACK's codes, the QoS granted to each filter (0x80: refused)."""
        self._subscribed.clear()
        self.client.subscribe(topic, qos)
        assert self._subscribed.wait(10), f"no SUBACK for {topic}"
        return self.granted

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published(), f"paho could not publish to {topic}"

    def get(self, timeout: float = 10.0):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"paho received nothing within {timeout} s") from None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Paho:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

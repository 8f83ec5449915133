"""A real ser2net (version 4) for the remote-port suites. Nothing here imports modemqtt.

``Ser2net(folder)`` collects connections (a device exposed raw or with RFC 2217 on a free
port of 127.0.0.1), writes the YAML configuration and runs ``ser2net -d -n -u -c FILE`` in the
foreground. ``kill()`` / ``start()`` again keep the same ports, for restart tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import find_exe, free_port

SER2NET_MISSING = "ser2net not installed: apt-get install ser2net"
REQUIRE_ENV = "MODEMQTT_REQUIRE_SER2NET"


def require_ser2net() -> str:
    """The ser2net executable, or skip (fail when $MODEMQTT_REQUIRE_SER2NET is set, as in CI)."""
    exe = find_exe("ser2net")
    if exe is None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{SER2NET_MISSING} ({REQUIRE_ENV} is set)")
        pytest.skip(SER2NET_MISSING)
    return exe


@dataclass
class Connection:
    name: str
    device: str
    mode: str  # "raw" or "rfc2217"
    port: int

    @property
    def url(self) -> str:
        scheme = "socket" if self.mode == "raw" else "rfc2217"
        return f"{scheme}://127.0.0.1:{self.port}"

    def yaml(self) -> str:
        accepter = "tcp" if self.mode == "raw" else "telnet(rfc2217),tcp"
        return (
            f"connection: &{self.name}\n"
            f"  accepter: {accepter},127.0.0.1,{self.port}\n"
            f"  connector: serialdev,{self.device},115200n81,local\n"
            "  options:\n"
            "    kickolduser: true\n"
        )


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, without connecting to it (a probe
    connection would make ser2net open and close the device)."""
    want = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[1] == want and fields[3] == "0A":  # 0A: LISTEN
                    return True
        return False
    except OSError:  # no procfs: fall back to connecting
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False


class Ser2net:
    def __init__(self, folder: Path, exe: str | None = None) -> None:
        self.exe = exe or require_ser2net()
        self.folder = folder
        self.conf = folder / "ser2net.yaml"
        self.log_path = folder / "ser2net.log"
        self.connections: dict[str, Connection] = {}
        self.proc: subprocess.Popen[bytes] | None = None

    def add(self, name: str, device: str, mode: str) -> Connection:
        assert mode in ("raw", "rfc2217"), mode
        conn = Connection(name, device, mode, free_port())
        self.connections[name] = conn
        return conn

    def url(self, name: str) -> str:
        return self.connections[name].url

    def start(self, timeout: float = 15.0) -> None:
        assert self.proc is None, "already running"
        self.conf.write_text("".join(c.yaml() for c in self.connections.values()))
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [self.exe, "-d", "-n", "-u", "-c", str(self.conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        pending = [c.port for c in self.connections.values()]
        while pending:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"ser2net exited with {self.proc.returncode}: {self.log_path.read_text()}"
                )
            pending = [p for p in pending if not _listening(p)]
            if pending and time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"ser2net never listened on {pending}")
            if pending:
                time.sleep(0.02)

    def _end(self, sig: int) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, as a service manager would."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the connections drop without ser2net closing anything itself."""
        self._end(signal.SIGKILL)

    def wait_closed(self, timeout: float = 10.0) -> None:
        """Wait until no port listens any more (after kill/stop)."""
        deadline = time.monotonic() + timeout
        while any(_listening(c.port) for c in self.connections.values()):
            if time.monotonic() > deadline:
                raise AssertionError("ser2net ports still listening")
            time.sleep(0.02)

"""A labgrid lab on 127.0.0.1 for the labgrid suites: a coordinator, exporters that publish
serial devices (virtual modems' ptys) through ser2net as labgrid does, and labgrid-client.

Nothing here imports modemqtt. ``require_labgrid()`` skips (or fails in CI, when
$MODEMQTT_REQUIRE_LABGRID is set) when labgrid or ser2net is missing.

labgrid's exporter starts one ser2net per acquired serial port, listening on every interface.
The lab puts a ``ser2net`` wrapper first on the exporter's PATH that binds those listeners to
127.0.0.1 (the only change; everything else is labgrid's own command line).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ser2net_helper import require_ser2net
from support import free_port

LABGRID_MISSING = "labgrid not installed: pip install 'modemqtt[labgrid]'"
REQUIRE_ENV = "MODEMQTT_REQUIRE_LABGRID"
BIN = Path(sys.executable).parent


def require_labgrid() -> None:
    """Skip (fail when $MODEMQTT_REQUIRE_LABGRID is set, as in CI) without labgrid's tools."""
    if sys.version_info < (3, 10):
        pytest.skip("labgrid needs Python 3.10 or newer")
    missing = None
    try:
        import labgrid  # noqa: F401
    except ImportError:
        missing = LABGRID_MISSING
    for tool in ("labgrid-coordinator", "labgrid-exporter", "labgrid-client"):
        if missing is None and not (BIN / tool).exists():
            missing = f"{tool} not found next to {sys.executable}: {LABGRID_MISSING}"
    if missing is not None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{missing} ({REQUIRE_ENV} is set)")
        pytest.skip(missing)
    require_ser2net()


def listeners(port: int) -> list[str]:
    """The local addresses (hex, as /proc/net/tcp{,6} spell them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    address, _, hexport = fields[1].rpartition(":")
                    if int(hexport, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                        found.append(address)
        except OSError:
            continue
    return found


def _wait(what: str, ready: object, proc: subprocess.Popen[bytes], log: Path, timeout: float):
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not ready within {timeout} s:\n{log.read_text()}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)  # the process and its children (ser2net)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class Exporter:
    name: str
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        """SIGKILL to the exporter and its ser2net: the host is gone."""
        _stop(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.proc)


@dataclass
class Lab:
    folder: Path
    port: int = field(default_factory=free_port)
    coordinator: subprocess.Popen[bytes] | None = None
    exporters: dict[str, Exporter] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self, user: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{self.folder / 'bin'}{os.pathsep}{BIN}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        for key in list(env):
            if key.startswith(("LG_", "PYTEST_")):  # nothing of the outer pytest or lab
                del env[key]
        env["LG_COORDINATOR"] = self.address
        if user is not None:
            env["LG_USERNAME"] = user
        return env

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(
                argv,
                cwd=self.folder,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() reaches ser2net too
            )

    def start(self, timeout: float = 30.0) -> None:
        require_labgrid()
        ser2net = require_ser2net()
        shim = self.folder / "bin" / "ser2net"
        shim.parent.mkdir(parents=True, exist_ok=True)
        shim.write_text(
            "#!/bin/bash\n"
            "# labgrid's exporter asks for 'tcp,PORT' (every interface): listen on loopback\n"
            'args=(); for a in "$@"; do args+=("${a/,tcp,/,tcp,127.0.0.1,}"); done\n'
            f'exec {ser2net} "${{args[@]}}"\n'
        )
        shim.chmod(0o755)
        log = self.folder / "coordinator.log"
        self.coordinator = self._spawn(
            [str(BIN / "labgrid-coordinator"), "--listen", self.address], log
        )
        ready = f"listening on {self.address}".encode()
        coordinator = self.coordinator
        _wait("labgrid-coordinator", lambda: ready in log.read_bytes(), coordinator, log, timeout)

    def add_exporter(self, name: str, devices: dict[str, str], timeout: float = 30.0) -> Exporter:
        """An exporter ``name`` publishing one RawSerialPort per group: {group: device}."""
        config = self.folder / f"exporter-{name}.yaml"
        config.write_text(
            "".join(
                f"{group}:\n  RawSerialPort:\n    port: {device}\n    speed: 115200\n"
                for group, device in devices.items()
            )
        )
        log = self.folder / f"exporter-{name}.log"
        log.write_bytes(b"")
        argv = [str(BIN / "labgrid-exporter"), "--name", name, "--hostname", "127.0.0.1"]
        exporter = Exporter(name, config, log)
        exporter.proc = self._spawn([*argv, str(config)], log)
        self.exporters[name] = exporter
        _wait(
            f"labgrid-exporter {name}",
            lambda: b"creating poll task" in log.read_bytes(),
            exporter.proc,
            log,
            timeout,
        )
        return exporter

    def client(
        self, *args: str, user: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """``labgrid-client -x ADDRESS ARGS`` (as ``user`` when given)."""
        done = subprocess.run(
            [str(BIN / "labgrid-client"), "-x", self.address, *args],
            cwd=self.folder,
            env=self.env(user),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"labgrid-client {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout}{done.stderr}"
            )
        return done

    def add_place(self, name: str, match: str, tags: dict[str, str]) -> None:
        self.client("-p", name, "create")
        self.client("-p", name, "add-match", match)
        self.client("-p", name, "set-tags", *(f"{k}={v}" for k, v in tags.items()))

    def stop(self) -> None:
        for exporter in self.exporters.values():
            exporter.stop()
        _stop(self.coordinator)
        self.coordinator = None

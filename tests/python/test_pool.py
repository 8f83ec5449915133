"""modemqtt.pool: lab files, leases across processes, the pick for an xdist worker, and the
CLI's name resolution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from modemqtt import Modem, ModemTimeout, VirtualModem
from modemqtt.cli import CliError, main
from modemqtt.cli import resolve_port as cli_resolve_port
from modemqtt.pool import (
    LabFileError,
    LabModem,
    Pool,
    PoolTimeout,
    lock_key,
    lock_port,
    resolve_port,
    worker_count,
    worker_index,
)

LAB = """
[pool]
lock_dir = "locks"

[modems.bench-1]
url = "rfc2217://lab-host:4001"
profile = "a7600"
capabilities = ["cmqtt", "tls"]
location = "rack 3"

[modems.bench-2]
url = "socket://lab-host:4002"
profile = "A7600"
capabilities = ["cmqtt"]
baudrate = 921600

[modems.usb]
url = "/dev/ttyUSB2"
profile = "ec21"
"""


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(LAB)
    return path


@pytest.fixture
def pool(lab: Path) -> Pool:
    return Pool.from_file(lab)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.toml"
    p.write_text(textwrap.dedent(text))
    return p


# ----------------------------------------------------------------------------- the lab file


def test_lab_file_is_read(pool: Pool, lab: Path) -> None:
    assert pool.names() == ["bench-1", "bench-2", "usb"]
    assert len(pool) == 3 and "usb" in pool and "nope" not in pool
    b1 = pool["bench-1"]
    assert b1 == LabModem(
        "bench-1",
        "rfc2217://lab-host:4001",
        "a7600",
        frozenset({"cmqtt", "tls"}),
        115200,
        {"location": "rack 3"},
    )
    assert pool["bench-2"].baudrate == 921600
    assert pool.lock_dir == lab.parent / "locks"
    assert pool.source == str(lab)


def test_select_by_profile_and_capability(pool: Pool) -> None:
    assert [m.name for m in pool.select(profile="a7600")] == ["bench-1", "bench-2"]
    assert [m.name for m in pool.select(capabilities=["tls"])] == ["bench-1"]
    assert [m.name for m in pool.select(profile="ec21", capabilities=["tls"])] == []
    with pytest.raises(TypeError):
        pool.select(capabilities="tls")


def test_unknown_name_lists_the_known_ones(pool: Pool) -> None:
    with pytest.raises(KeyError, match="bench-1, bench-2, usb"):
        pool["bench-9"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("[modems]\n", "at least one"),
        ("[modems.a]\nprofile = 'x'\n", "url is required"),
        ("[modems.a]\nurl = 'ftp://h:1'\n", "unknown scheme 'ftp'"),
        ("[modems.a]\nurl = ''\n", "non-empty"),
        ("[modems.a]\nurl = '/dev/x'\nbaudrate = 12\n", "baudrate must be between"),
        ("[modems.a]\nurl = '/dev/x'\nbaudrate = '9600'\n", "baudrate must be an integer"),
        ("[modems.a]\nurl = '/dev/x'\ncapabilities = 'tls'\n", "capabilities must be a list"),
        ("[modems.a]\nurl = '/dev/x'\nprofile = 3\n", "profile must be"),
        ("[modems.'-a']\nurl = '/dev/x'\n", "modem name"),
        ("[modems.a]\nurl = '/dev/x'\n[extra]\n", "unknown top-level"),
        ("[pool]\nlocks = 'x'\n[modems.a]\nurl = '/dev/x'\n", "unknown key"),
        ("[modems.a\nurl = 1\n", "not valid TOML"),
    ],
)
def test_bad_lab_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(LabFileError, match=message) as err:
        Pool.from_file(write(tmp_path, text))
    assert "bad.toml" in str(err.value)


def test_missing_lab_file(tmp_path: Path) -> None:
    with pytest.raises(LabFileError, match="cannot read"):
        Pool.from_file(tmp_path / "absent.toml")


def test_duplicate_names_are_refused() -> None:
    m = LabModem("a", "/dev/x")
    with pytest.raises(LabFileError, match="twice"):
        Pool([m, m])


def test_from_env(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEMQTT_LAB", raising=False)
    assert Pool.from_env() is None
    monkeypatch.setenv("MODEMQTT_LAB", str(lab))
    env_pool = Pool.from_env()
    assert env_pool is not None and env_pool.names() == ["bench-1", "bench-2", "usb"]


# ----------------------------------------------------------------------------- leases


def test_acquire_is_exclusive_and_release_frees(pool: Pool) -> None:
    first = pool.acquire(profile="a7600", timeout=0)
    second = pool.acquire(profile="a7600", timeout=0)
    assert {first.name, second.name} == {"bench-1", "bench-2"}
    with pytest.raises(PoolTimeout, match="no 1 free modem") as err:
        pool.acquire(profile="a7600", timeout=0.2)
    assert isinstance(err.value, ModemTimeout)
    assert not pool.is_free(first.name)
    first.release()
    first.release()  # idempotent
    assert pool.is_free(first.name)
    with pool.acquire(profile="a7600", timeout=0) as again:
        assert again.name == first.name and again.held
    assert not again.held
    second.release()


def test_acquire_by_name_and_mismatch(pool: Pool) -> None:
    with pool.acquire("usb", timeout=0) as lease:
        assert lease.url == "/dev/ttyUSB2"
        assert lease.lock_path.exists()
        assert "usb /dev/ttyUSB2 pid=" in lease.lock_path.read_text()
    with pytest.raises(ValueError, match="not a 'a7600'"):
        pool.acquire("usb", profile="a7600")
    with pytest.raises(ValueError, match="lacks"):
        pool.acquire("usb", capabilities=["tls"])
    with pytest.raises(LookupError, match="no modem with profile 'bg95'"):
        pool.acquire(profile="bg95")


@pytest.mark.parametrize("bad", [-1, float("inf"), float("nan")])
def test_bad_timeout(pool: Pool, bad: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        pool.acquire(timeout=bad)


@pytest.mark.parametrize("bad", [0, -2, True, 4])
def test_bad_count(pool: Pool, bad: int) -> None:
    with pytest.raises(ValueError, match="count"):
        pool.acquire_many(bad)


def test_acquire_many_is_all_or_nothing(pool: Pool) -> None:
    held = pool.acquire("bench-2", timeout=0)
    with pytest.raises(PoolTimeout):
        pool.acquire_many(2, profile="a7600", timeout=0.2)
    # bench-1 was not kept by the failed attempt.
    assert pool.is_free("bench-1")
    held.release()
    both = pool.acquire_many(2, profile="a7600", timeout=0)
    assert sorted(x.name for x in both) == ["bench-1", "bench-2"]
    for x in both:
        x.release()


def test_aliases_of_one_url_share_a_lock(tmp_path: Path) -> None:
    a = Pool([LabModem("a", "socket://h:1")], lock_dir=tmp_path)
    b = Pool([LabModem("b", "socket://h:1/?timeout=3")], lock_dir=tmp_path)
    with a.acquire(timeout=0):
        with pytest.raises(PoolTimeout):
            b.acquire(timeout=0.1)
    with b.acquire(timeout=0):
        pass


HOLD = """
import sys, time
from modemqtt.pool import Pool
lease = Pool.from_file(sys.argv[1]).acquire(sys.argv[2], timeout=10)
print("held", flush=True)
time.sleep(float(sys.argv[3]))
"""


def test_another_process_holds_the_modem_until_it_exits(pool: Pool, lab: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lab), "bench-1", "60"], stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"held"
        with pytest.raises(PoolTimeout):
            pool.acquire("bench-1", timeout=0.2)
        # A holder that dies (no release) frees the modem: the kernel drops its flock.
        proc.kill()
        proc.wait(timeout=10)
        with pool.acquire("bench-1", timeout=5) as lease:
            assert lease.held
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


# ----------------------------------------------------------------------------- xdist workers


@pytest.mark.parametrize(
    "worker_id, index", [(None, 0), ("master", 0), ("gw0", 0), ("gw1", 1), ("gw12", 12)]
)
def test_worker_index(worker_id: str | None, index: int, monkeypatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert worker_index(worker_id) == index


def test_worker_index_and_count_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    assert worker_index() == 3
    assert worker_count() == 4
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT")
    assert worker_count() == 1
    with pytest.raises(ValueError, match="worker_id"):
        worker_index("gwx")


def test_each_worker_gets_its_own_share(tmp_path: Path) -> None:
    pool = Pool([LabModem(f"m{i}", f"socket://h:{4000 + i}") for i in range(6)], lock_dir=tmp_path)
    w0 = pool.acquire_for_worker("gw0", count=2, timeout=0)
    w1 = pool.acquire_for_worker("gw1", count=2, timeout=0)
    w2 = pool.acquire_for_worker("gw2", count=2, timeout=0)
    assert [x.name for x in w0] == ["m0", "m1"]
    assert [x.name for x in w1] == ["m2", "m3"]
    assert [x.name for x in w2] == ["m4", "m5"]
    for x in w1:
        x.release()
    # A fourth worker wraps around to gw0's share, finds it busy, and takes the free ones.
    w3 = pool.acquire_for_worker("gw3", count=2, timeout=0)
    assert sorted(x.name for x in w3) == ["m2", "m3"]
    with pytest.raises(PoolTimeout):
        pool.acquire_for_worker("gw4", timeout=0.1)
    for x in w0 + w2 + w3:
        x.release()


def test_single_worker_pick(pool: Pool) -> None:
    (lease,) = pool.acquire_for_worker("gw1", profile="a7600", timeout=0)
    assert lease.name == "bench-2"
    lease.release()


# ----------------------------------------------------------------------------- opening


def test_lease_opens_the_modem(tmp_path: Path) -> None:
    with VirtualModem("a7600", listen="127.0.0.1:0") as vm:
        assert vm.tcp_url is not None
        pool = Pool([LabModem("vm", vm.tcp_url, "a7600")], lock_dir=tmp_path)
        with pool.acquire(timeout=0) as lease, lease.open(timeout=10.0) as modem:
            assert isinstance(modem, Modem)
            assert modem.port == vm.tcp_url
            assert modem.info().family == "cmqtt"
        with pytest.raises(Exception, match="released"):
            lease.open()


# ----------------------------------------------------------------------------- resolving names


def test_resolve_port(pool: Pool, lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEMQTT_LAB", raising=False)
    assert resolve_port("/dev/ttyUSB0") == "/dev/ttyUSB0"
    assert resolve_port("socket://h:1") == "socket://h:1"
    assert resolve_port("COM3") == "COM3"
    assert resolve_port("bench-1", pool) == "rfc2217://lab-host:4001"
    assert resolve_port("bench-2", lab) == "socket://lab-host:4002"
    with pytest.raises(LookupError, match="no lab file"):
        resolve_port("bench-1")
    monkeypatch.setenv("MODEMQTT_LAB", str(lab))
    assert resolve_port("usb") == "/dev/ttyUSB2"
    with pytest.raises(LookupError, match="known: bench-1, bench-2, usb"):
        resolve_port("bench-7")
    with pytest.raises(ValueError):
        resolve_port("")


def test_cli_resolve_port(lab: Path) -> None:
    assert cli_resolve_port("bench-1", str(lab)) == "rfc2217://lab-host:4001"
    assert cli_resolve_port("/dev/ttyACM0", str(lab)) == "/dev/ttyACM0"
    with pytest.raises(CliError, match="no modem named 'zz'"):
        cli_resolve_port("zz", str(lab))


def test_cli_lab_lists_modems(lab: Path, pool: Pool, capsys) -> None:
    with pool.acquire("bench-2", timeout=0):
        assert main(["lab", "--lab", str(lab), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["url"], r["free"]) for r in rows] == [
        ("bench-1", "rfc2217://lab-host:4001", True),
        ("bench-2", "socket://lab-host:4002", False),
        ("usb", "/dev/ttyUSB2", True),
    ]
    assert rows[0]["capabilities"] == ["cmqtt", "tls"]
    assert main(["lab", "--lab", str(lab), "-q", "usb"]) == 0
    assert capsys.readouterr().out == "/dev/ttyUSB2\n"
    assert main(["lab", "--lab", str(lab), "nope"]) == 1
    assert "no modem named 'nope'" in capsys.readouterr().err


def test_cli_lab_without_a_file(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("MODEMQTT_LAB", raising=False)
    assert main(["lab"]) == 1
    assert "MODEMQTT_LAB" in capsys.readouterr().err


# ----------------------------------------------------------------------------- one lease


def _pytest_holding(folder: Path, port: str, lock_dir: Path, hold: float) -> subprocess.Popen:
    """A pytest session on ``--modem-port PORT`` whose one test says "held" and sleeps."""
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_hold.py").write_text(
        "import time\n\n"
        "def test_hold(modem_port):\n"
        f"    print('held', {port!r} == modem_port, flush=True)\n"
        f"    time.sleep({hold})\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["MODEMQTT_LOCK_DIR"] = str(lock_dir)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "-q"]
        + [f"--modem-port={port}", "--mqtt-broker=mqtt://127.0.0.1:1"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def test_pool_and_modem_port_share_one_lease(tmp_path: Path, monkeypatch) -> None:
    """A port held through the pool cannot be taken by a --modem-port session, and the
    other way round: both take lock_port()'s lease (same folder, same key)."""
    locks = tmp_path / "locks"
    monkeypatch.setenv("MODEMQTT_LOCK_DIR", str(locks))
    url = "socket://127.0.0.1:4001"
    pool = Pool([LabModem("bench", url + "?timeout=3")])  # options do not change the key
    assert lock_key(url) == lock_key(url + "/?timeout=3") and pool.lock_dir == locks

    with pool.acquire("bench", timeout=0):
        (tmp_path / "a").mkdir()
        busy = _pytest_holding(tmp_path / "a", url, locks, 0)
        out, _ = busy.communicate(timeout=120)
        assert busy.returncode != 0, out
        assert b"all 1 lab modems are in use" in out, out

    folder = tmp_path / "b"
    folder.mkdir()
    holder = _pytest_holding(folder, url, locks, 60)
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        while line and not line.startswith(b"held"):
            line = holder.stdout.readline()
        assert line.strip() == b"held True", line
        with pytest.raises(PoolTimeout):
            pool.acquire("bench", timeout=0)
        assert lock_port(url, lock_dir=locks) is None
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    with pool.acquire("bench", timeout=5) as lease:  # the dead session freed it
        assert lease.held

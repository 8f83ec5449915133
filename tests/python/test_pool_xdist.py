"""16 virtual modems at once through one lab pool with pytest-xdist (2 workers).

The modems sit behind every kind of port a lab has: 4 on their pty, 4 on their own TCP
listener, 4 behind ser2net raw and 4 behind ser2net in RFC 2217 mode. The inner suite
(pool_worker_suite.py) runs in a pytest subprocess with ``-n 2``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from modemqtt import VirtualModem
from ser2net_helper import Ser2net, require_ser2net

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODEMS = 16
WORKERS = 2


def require_xdist() -> None:
    try:
        import xdist  # noqa: F401
    except ImportError:
        reason = "pytest-xdist not installed: pip install pytest-xdist"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI)")
        pytest.skip(reason)


def test_sixteen_modems_through_one_pool_with_two_workers(tmp_path: Path) -> None:
    require_xdist()
    ser2net = Ser2net(tmp_path, require_ser2net())
    vms = [VirtualModem("a7600", listen="127.0.0.1:0") for _ in range(MODEMS)]
    try:
        urls = []
        for i, vm in enumerate(vms):
            kind = ("pty", "tcp", "raw", "rfc2217")[i % 4]
            if kind == "pty":
                urls.append(vm.port)
            elif kind == "tcp":
                assert vm.tcp_url is not None
                urls.append(vm.tcp_url)
            else:
                urls.append(ser2net.add(f"vm{i:02d}", vm.port, kind).url)
        ser2net.start()
        lab = tmp_path / "lab.toml"
        lab.write_text(
            '[pool]\nlock_dir = "locks"\n\n'
            + "".join(
                f'[modems.vm-{i:02d}]\nurl = "{url}"\nprofile = "a7600"\n'
                f'capabilities = ["cmqtt"]\nbroker = "{vm.broker_url}"\n\n'
                for i, (url, vm) in enumerate(zip(urls, vms))
            )
        )
        results = tmp_path / "results"
        results.mkdir()
        env = dict(os.environ)
        env.update(
            MODEMQTT_LAB=str(lab),
            MODEMQTT_POOL_RESULTS=str(results),
            MODEMQTT_POOL_TESTS=str(MODEMS),
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-c",
                str(ROOT / "pyproject.toml"),
                "--rootdir",
                str(ROOT),
                "-p",
                "no:cacheprovider",
                "-n",
                str(WORKERS),
                "-q",
                "pool_worker_suite.py",
            ],
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert f"{MODEMS} passed" in output, output

        events = [
            json.loads(line)
            for path in sorted(results.glob("*.jsonl"))
            for line in path.read_text().splitlines()
        ]
        at_once = [e for e in events if e["event"] == "all-connected"]
        # Every worker held its own 8 modems, all connected, while the others did too.
        assert sorted(e["worker"] for e in at_once) == [f"gw{n}" for n in range(WORKERS)]
        names_by_worker = {e["worker"]: set(e["names"]) for e in at_once}
        assert all(len(n) == MODEMS // WORKERS for n in names_by_worker.values())
        assert all(all(e["connected"]) for e in at_once)
        everyone = set().union(*names_by_worker.values())
        assert everyone == {f"vm-{i:02d}" for i in range(MODEMS)}
        # Never shared: each modem appears in exactly one worker's share.
        assert sum(len(n) for n in names_by_worker.values()) == MODEMS
        # The round trips ran on the worker's own modems only.
        trips = [e for e in events if e["event"] == "round-trip"]
        assert sorted(e["slot"] for e in trips) == list(range(MODEMS))
        used: dict[str, set[str]] = defaultdict(set)
        for e in trips:
            assert e["name"] in names_by_worker[e["worker"]], e
            used[e["name"]].add(e["worker"])
        assert all(len(w) == 1 for w in used.values())
        # Every modem did real MQTT work: the session round trip at least.
        assert all(vm.stats()["published"] >= 1 for vm in vms)
    finally:
        ser2net.stop()
        for vm in vms:
            vm.close()

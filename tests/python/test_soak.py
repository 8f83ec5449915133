"""A short soak per profile and receive mode: ``bench/soak.py`` for 30 s under faults
(link drops, restarts, noise, chunked and delayed output), QoS 0/1/2 both ways at the
harness's steady rate, and its verdict: no QoS 1/2 message lost, none corrupt, none dropped.
The long runs (15-60 minutes) and their figures are in docs/performance.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"

CASES = [
    ("a7600", None),
    ("sim7028", None),
    ("ec20", "buffer"),
    ("ec20", "urc"),
    ("bg96", None),
    ("sim7600-aliyun", None),
    ("sim7000-aliyun", None),
    ("sim7080", None),
    ("sara-r5", None),
    ("esp32-at", None),
]


@pytest.mark.timeout(400)
@pytest.mark.parametrize("profile,mode", CASES, ids=[f"{p}-{m or 'default'}" for p, m in CASES])
def test_short_soak_loses_nothing(profile: str, mode: str | None) -> None:
    cmd = [sys.executable, str(SOAK), "--minutes", "0.5", "--profile", profile, "--seed", "1"]
    # --verbose: the fault and link timeline, with the library's warnings, on stderr.
    cmd += ["--fault-every", "3", "--rate", "20", "--verbose"]
    if mode:
        cmd += ["--receive-mode", mode]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=380)
    figures = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            f = json.loads(line)
            figures[f["figure"]] = f
    assert "verdict" in figures, r.stdout[-2000:] + r.stderr[-2000:]
    verdict = figures["verdict"]
    # A failure shows the start of the timeline's trouble (link events, the library's
    # warnings) before the figures.
    trouble = [ln for ln in r.stderr.splitlines() if not ln.split()[1:2] == ["fault"]]
    assert verdict["ok"], "\n".join(trouble)[:4000] + json.dumps(figures, indent=1)[-2000:]
    assert verdict["lost_qos12"] == 0 and verdict["corrupt"] == 0 and verdict["dropped"] == 0
    assert r.returncode == 0
    # It ran for real: faults were injected and every flow carried messages (the Alibaba
    # up flow is slow: each publish waits for its acknowledgement in yield windows).
    assert sum(figures["faults"]["injected"].values()) >= 5
    for direction in ("up", "down"):
        for qos in ("1", "2"):
            assert figures[direction]["sent"][qos] >= 20, (direction, qos, figures[direction])

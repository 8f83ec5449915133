"""Eclipse Paho's MQTT 3.1.1 interoperability suite against the embedded broker.

The suite (``interoperability/client_test.py``, pinned unmodified under
tests/thirdparty/paho.mqtt.testing, see its README) connects real MQTT clients and checks:
connect/disconnect and a second CONNECT on one socket, retained messages and their deletion,
the will on keep-alive expiry, a zero-length client id (refused with a persistent session,
accepted with a clean one), offline message queueing for a persistent session, overlapping
subscriptions, redelivery of unacknowledged QoS 1/2 messages on reconnect, a refused
subscription (SUBACK 0x80 for ``test/nosubscribe``), ``$`` topics not matched by wildcards, and
unsubscribing. It uses the fixed client ids "myclientid"/"myclientid2" and deletes every
retained message it finds, so it gets a broker of its own: the embedded broker of a separate
Python process (each process has one, started by its first ``VirtualModem``).

Every test of the suite is run and must pass; none is excluded. It takes about 40 s, most of
it the suite's own sleeps (15 s of them in its keep-alive test).
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import host_port

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "paho_interop.py"
# The suite's tests (client_test.py, class Test); all must pass.
SUITE_TESTS = {
    "testBasic",
    "test_dollar_topics",
    "test_keepalive",
    "test_offline_message_queueing",
    "test_overlapping_subscriptions",
    "test_redelivery_on_reconnect",
    "test_retained_messages",
    "test_subscribe_failure",
    "test_unsubscribe",
    "test_zero_length_clientid",
}
# The suite sleeps about 40 s in all; this bounds a hang, not a speed.
SUITE_DEADLINE = 100.0
# Importing modemqtt and starting the broker takes well under a second.
START_DEADLINE = 30.0
BROKER_HOST = """
import sys
import modemqtt

with modemqtt.VirtualModem("a7600") as vm:
    print(vm.broker_url, flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


@pytest.fixture(scope="module")
def private_broker() -> Iterator[tuple[str, int]]:
    """(host, port) of an embedded broker in a process of its own, for this module only."""
    proc = subprocess.Popen(
        [sys.executable, "-c", BROKER_HOST],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        # The url is the first line; a crash before it gives "" (EOF) at once.
        ready, _, _ = select.select([proc.stdout], [], [], START_DEADLINE)
        assert ready, f"the broker process printed nothing within {START_DEADLINE} s"
        url = proc.stdout.readline().strip()
        assert url.startswith("mqtt://"), f"the broker process printed {url!r}"
        yield host_port(url)
    finally:
        # Closing its stdin ends the broker process; communicate() closes both pipes.
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=10)


def test_paho_interoperability_suite(private_broker: tuple[str, int], tmp_path: Path) -> None:
    host, port = private_broker
    out = tmp_path / "result.json"
    run = subprocess.run(
        [sys.executable, str(RUNNER), host, str(port), str(out)],
        capture_output=True,
        text=True,
        timeout=SUITE_DEADLINE,
        stdin=subprocess.DEVNULL,
    )
    log = f"--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    assert out.exists(), f"the suite ended (exit {run.returncode}) without a result\n{log}"
    result = json.loads(out.read_text())
    assert result["failed"] == {}, log
    assert sorted(result["passed"]) == sorted(SUITE_TESTS), log
    assert run.returncode == 0, log

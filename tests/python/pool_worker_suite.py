"""Run by test_pool_xdist.py under pytest-xdist, never on its own (the name does not match
test_*.py). Each worker takes its share of the lab pool for the session, connects an MQTT
client on every modem of it, waits until every worker has done so (all modems connected at
once), then each test does a round trip on one of its modems. What happened is written to
$MODEMQTT_POOL_RESULTS for the outer test to check.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from modemqtt import MqttClient
from modemqtt.pool import Lease, Pool, worker_count
from support import host_port, unique_topic

RESULTS = Path(os.environ.get("MODEMQTT_POOL_RESULTS", "."))
SLOTS = int(os.environ.get("MODEMQTT_POOL_TESTS", "16"))
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "master")


def record(**fields: Any) -> None:
    with open(RESULTS / f"{WORKER}.jsonl", "a") as f:
        f.write(json.dumps({"worker": WORKER, "pid": os.getpid(), **fields}) + "\n")


class Held:
    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.modem = lease.open(timeout=15.0)
        self.client: MqttClient = self.modem.mqtt(f"pool-{uuid.uuid4().hex[:10]}")
        broker = host_port(str(lease.modem.extra["broker"]))
        self.client.connect(*broker)

    def round_trip(self, payload: bytes) -> bytes:
        topic = unique_topic("modemqtt/pool")
        self.client.subscribe(topic, qos=1)
        self.client.publish(topic, payload, qos=1)
        msg = self.client.wait_message(topic, timeout=15)
        self.client.unsubscribe(topic)
        return msg.payload

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            self.modem.close()
            self.lease.release()


@pytest.fixture(scope="session")
def share() -> Iterator[list[Held]]:
    pool = Pool.from_env()
    assert pool is not None, "MODEMQTT_LAB is not set"
    per_worker = len(pool) // worker_count()
    leases = pool.acquire_for_worker(count=per_worker, timeout=60)
    held: list[Held] = []
    try:
        for lease in leases:
            held.append(Held(lease))
        for h in held:
            assert h.round_trip(h.lease.name.encode()) == h.lease.name.encode()
        record(event="connected", names=[h.lease.name for h in held])
        # Barrier: every worker has all of its modems connected before any test runs.
        (RESULTS / f"ready-{WORKER}").touch()
        deadline = time.monotonic() + 90
        while len(list(RESULTS.glob("ready-*"))) < worker_count():
            assert time.monotonic() < deadline, "the other workers never got their modems"
            time.sleep(0.05)
        record(
            event="all-connected",
            names=[h.lease.name for h in held],
            connected=[h.client.is_connected() for h in held],
        )
        yield held
    finally:
        for h in held:
            h.close()
        for lease in leases:
            lease.release()


@pytest.mark.parametrize("slot", range(SLOTS))
def test_round_trip_on_a_pool_modem(share: list[Held], slot: int) -> None:
    h = share[slot % len(share)]
    payload = bytes(range(256)) + f" slot {slot}".encode()
    assert h.round_trip(payload) == payload
    record(event="round-trip", slot=slot, name=h.lease.name, url=h.lease.url)

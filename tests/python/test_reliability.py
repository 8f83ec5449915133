"""Threads and backpressure: callbacks that call back into the client, close() from a
callback, many publishing threads, and a slow consumer under a steady message flood."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import paho.mqtt.client as paho
import pytest
from modemqtt import Message, Modem, ModemError, VirtualModem
from support import host_port, unique_topic, wait_until


@pytest.fixture
def vm() -> Iterator[VirtualModem]:
    with VirtualModem("a7600") as v:
        yield v


def new_id() -> str:
    return f"r-{uuid.uuid4().hex[:10]}"


def test_publish_from_on_message(vm: VirtualModem, modem: Modem) -> None:
    host, port = host_port(vm.broker_url)
    client = modem.mqtt(new_id(), 0)
    client.connect(host, port)
    ping, pong = unique_topic(), unique_topic()
    client.subscribe([(ping, 1), (pong, 1)])
    answers: list[bytes] = []
    done = threading.Event()

    def on_message(msg: Message) -> None:
        if msg.topic == ping:
            client.publish(pong, b"re: " + msg.payload, qos=1)
        else:
            answers.append(msg.payload)
            done.set()

    client.on_message = on_message
    client.publish(ping, b"hello", qos=1)
    assert done.wait(20), "the publish made inside on_message never came back"
    assert answers == [b"re: hello"]
    client.close()


def test_close_from_a_callback(vm: VirtualModem, modem: Modem) -> None:
    host, port = host_port(vm.broker_url)
    client = modem.mqtt(new_id(), 0)
    client.connect(host, port)
    topic = unique_topic()
    client.subscribe(topic, qos=1)
    closed = threading.Event()
    errors: list[BaseException] = []

    def on_message(_msg: Message) -> None:
        try:
            client.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        closed.set()

    client.on_message = on_message
    client.publish(topic, b"bye", qos=1)
    assert closed.wait(20)
    assert errors == []
    assert not client.is_connected()
    with pytest.raises(ModemError):
        client.publish(topic, b"after close")
    # The modem is still usable, and the index can be opened again.
    assert modem.command("AT").final == "OK"
    again = modem.mqtt(new_id(), 0)
    again.connect(host, port)
    again.close()


def test_many_threads_publish_at_once(vm: VirtualModem, modem: Modem) -> None:
    host, port = host_port(vm.broker_url)
    sender = modem.mqtt(new_id(), 0)
    receiver = modem.mqtt(new_id(), 1, queue_size=1000)
    sender.connect(host, port)
    receiver.connect(host, port)
    topic = unique_topic()
    receiver.subscribe(topic + "/#", qos=1)
    threads, per_thread = 8, 15
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(per_thread):
                sender.publish(f"{topic}/{n}", f"{n}:{i}".encode(), qos=1)
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers), "a publishing thread hung"
    assert failures == []
    got = set()
    deadline = time.monotonic() + 30
    while len(got) < threads * per_thread and time.monotonic() < deadline:
        got.add(receiver.wait_message(timeout=10).payload)
    assert got == {f"{n}:{i}".encode() for n in range(threads) for i in range(per_thread)}
    assert sender.stats()["published"] == threads * per_thread


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def test_slow_callback_under_a_flood_stays_bounded_and_counts_drops(
    vm: VirtualModem, modem: Modem
) -> None:
    """1,000 msgs/s for 60 s into a callback that sleeps: the reader keeps reading (the modem
    still answers commands at once), memory stays bounded, and every message the bounded
    queue could not hold is counted."""
    seconds, rate = 60, 1000
    host, port = host_port(vm.broker_url)
    client = modem.mqtt(new_id(), 0, queue_size=500)
    client.connect(host, port)
    topic = unique_topic()
    client.subscribe(topic, qos=0)
    handled = 0

    def slow(_msg: Message) -> None:
        nonlocal handled
        handled += 1
        time.sleep(0.01)  # at most ~100 msgs/s: ten times slower than the flood

    client.on_message = slow
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=new_id())
    publisher.connect(host, port)
    publisher.loop_start()
    payload = bytes(64)
    rss_start = rss_kib()
    sent = 0
    start = time.monotonic()
    commands_ok = 0
    try:
        for second in range(seconds):
            tick = start + second
            for _ in range(rate // 50):
                for _ in range(50):
                    publisher.publish(topic, payload, qos=0)
                    sent += 1
                time.sleep(max(0.0, tick + 0.02 - time.monotonic()))
                tick += 0.02
            if second % 10 == 0:
                # The reader thread is not stuck behind the slow callback.
                assert modem.command("AT", timeout=5).final == "OK"
                commands_ok += 1
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    rss_growth_mib = (rss_kib() - rss_start) / 1024

    def accounted() -> dict[str, int] | None:
        s = client.stats()
        return s if s["received"] >= vm.stats()["delivered"] else None

    stats = wait_until(accounted, timeout=30, what="the client to see every delivered message")
    client.on_message = None
    delivered = vm.stats()["delivered"]
    assert commands_ok == seconds // 10
    assert delivered > 10 * 500, "the flood did not reach the modem"
    assert stats["received"] == delivered
    # Nothing vanished: each message was handled, is still queued, or was counted as dropped.
    assert stats["dropped"] > 0
    assert handled + stats["queued"] + stats["dropped"] >= stats["received"] - 1
    assert rss_growth_mib < 100, f"RSS grew by {rss_growth_mib:.0f} MiB"
    client.close()

"""End-to-end rates through a virtual A7600 and the embedded broker.

Prints one JSON line per figure:
- receive: 64-byte messages per second delivered to a Python ``on_message`` callback while a
  paho-mqtt publisher floods the broker for ``--seconds`` seconds;
- publish_qos0 / publish_qos1: ``client.publish`` calls per second, each returning only
  when the modem reported the broker's result.

Usage: python bench/cmqtt_rates.py [--seconds 10] [--profile a7600]
"""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time
import uuid
from urllib.parse import urlparse

import modemqtt
import paho.mqtt.client as paho


def emit(figure: str, **values: object) -> None:
    print(json.dumps({"bench": "cmqtt_rates", "figure": figure, **values}), flush=True)


def receive_rate(vm: modemqtt.VirtualModem, modem: modemqtt.Modem, seconds: float) -> None:
    url = urlparse(vm.broker_url)
    host, port = url.hostname or "127.0.0.1", url.port or 1883
    topic = f"bench/{uuid.uuid4().hex}"
    client = modem.mqtt(f"rx-{uuid.uuid4().hex[:8]}", 0, queue_size=1_000_000)
    received = 0
    lock = threading.Lock()

    def on_message(_msg: modemqtt.Message) -> None:
        nonlocal received
        with lock:
            received += 1

    client.on_message = on_message
    client.connect(host, port)
    client.subscribe(topic, qos=0)

    publisher = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=f"flood-{uuid.uuid4().hex[:8]}"
    )
    publisher.connect(host, port)
    publisher.loop_start()
    payload = bytes(range(64))
    stop = threading.Event()
    sent = 0

    def flood() -> None:
        nonlocal sent
        while not stop.is_set():
            # Keep paho's own queue short so the broker, not the publisher, sets the pace.
            for _ in range(100):
                publisher.publish(topic, payload, qos=0)
                sent += 1
            time.sleep(0.0005)

    flooder = threading.Thread(target=flood, daemon=True)
    start = time.monotonic()
    flooder.start()
    time.sleep(seconds)
    stop.set()
    flooder.join(timeout=5)
    elapsed = time.monotonic() - start
    with lock:
        got = received
    publisher.loop_stop()
    publisher.disconnect()
    stats = vm.stats()
    emit(
        "receive",
        profile=vm.profile,
        payload_bytes=64,
        seconds=round(elapsed, 2),
        published=sent,
        delivered_by_modem=stats.get("delivered"),
        received_in_callback=got,
        msgs_per_s=round(got / elapsed, 1),
        dropped=client.dropped,
    )
    client.disconnect()
    client.close()


def publish_rate(
    vm: modemqtt.VirtualModem, modem: modemqtt.Modem, qos: int, seconds: float
) -> None:
    url = urlparse(vm.broker_url)
    client = modem.mqtt(f"tx-{uuid.uuid4().hex[:8]}", 1)
    client.connect(url.hostname or "127.0.0.1", url.port or 1883)
    payload = bytes(64)
    count = 0
    start = time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        client.publish("bench/publish", payload, qos=qos)
        count += 1
    elapsed = time.monotonic() - start
    emit(
        f"publish_qos{qos}",
        profile=vm.profile,
        payload_bytes=64,
        publishes=count,
        seconds=round(elapsed, 2),
        per_s=round(count / elapsed, 1),
    )
    client.disconnect()
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profile", default="a7600")
    args = parser.parse_args()
    emit(
        "machine", python=platform.python_version(), cpu=platform.processor() or platform.machine()
    )
    with modemqtt.VirtualModem(args.profile) as vm, modemqtt.Modem(vm.port) as modem:
        receive_rate(vm, modem, args.seconds)
        for qos in (0, 1):
            publish_rate(vm, modem, qos, min(args.seconds, 5.0))


if __name__ == "__main__":
    main()

"""Receive rate through the virtual modem: 64-byte messages delivered to a Python callback.

For each profile and receive mode, a paho-mqtt peer publishes N messages (QoS 0) to the
embedded broker; the client (Modem + MqttClient on the virtual modem's pty) receives them and
an ``on_message`` callback counts them. The rate is messages / (first publish -> last
callback). Prints one JSON line per figure:

    {"figure": "receive_rate", "profile": "ec20", "mode": "buffer", "messages": 2000,
     "payload_bytes": 64, "seconds": 1.23, "msgs_per_s": 1626.0, "dropped": 0}

Usage: python bench/receive_rate.py [--messages N] [--profiles ec20,bg96,a7600]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from modemqtt import Message, Modem, VirtualModem

PAYLOAD = bytes(range(64))


def host_port(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def measure(profile: str, mode: str | None, messages: int, queue_size: int) -> dict[str, object]:
    with VirtualModem(profile) as vm, Modem(vm.port, timeout=10.0) as modem:
        host, port = host_port(vm.broker_url)
        topic = f"bench/{uuid.uuid4().hex[:10]}"
        kwargs: dict[str, object] = {"queue_size": queue_size}
        if mode is not None:
            kwargs["receive_mode"] = mode
        count = 0
        done = threading.Event()
        last = 0.0

        def on_message(_msg: Message) -> None:
            nonlocal count, last
            count += 1
            if count == messages:
                last = time.perf_counter()
                done.set()

        with modem.mqtt(f"bench-{uuid.uuid4().hex[:8]}", **kwargs) as client:
            client.on_message = on_message
            client.connect(host, port)
            client.subscribe(topic, qos=0)
            peer = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            peer.connect(host, port)
            peer.loop_start()
            try:
                start = time.perf_counter()
                for _ in range(messages):
                    peer.publish(topic, PAYLOAD, qos=0)
                finished = done.wait(120)
            finally:
                peer.disconnect()
                peer.loop_stop()
            dropped = client.dropped
        seconds = (last if finished else time.perf_counter()) - start
        return {
            "figure": "receive_rate",
            "profile": profile,
            "mode": mode or "cmqtt",
            "messages": count,
            "payload_bytes": len(PAYLOAD),
            "seconds": round(seconds, 3),
            "msgs_per_s": round(count / seconds, 1) if seconds > 0 else None,
            "dropped": dropped,
            "complete": finished,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--profiles", default="ec20,bg96,a7600")
    ap.add_argument("--queue-size", type=int, default=10000)
    args = ap.parse_args()
    for profile in args.profiles.split(","):
        modes: list[str | None] = (
            ["urc", "buffer"] if profile in ("ec20", "ec25", "eg91", "bg96") else [None]
        )
        for mode in modes:
            print(json.dumps(measure(profile, mode, args.messages, args.queue_size)), flush=True)


if __name__ == "__main__":
    main()

"""Publish a message and receive it back through a virtual A7600 and the embedded broker.

Run: python examples/roundtrip.py [PROFILE]
"""

from __future__ import annotations

import sys
import time
from urllib.parse import urlsplit

import modemqtt


def main(profile: str = "a7600") -> int:
    with modemqtt.VirtualModem(profile) as vm, modemqtt.Modem(vm.port) as modem:
        info = modem.info()
        print(f"{info.manufacturer} {info.model} ({info.family}) on {vm.port}")

        broker = urlsplit(vm.broker_url)
        assert broker.hostname is not None and broker.port is not None
        with modem.mqtt("roundtrip-example") as client:
            client.connect(broker.hostname, broker.port, keepalive=60)
            client.subscribe("examples/#", qos=1)

            started = time.time()
            client.publish("examples/hello", b"hello through a modem", qos=1)
            msg = client.wait_message("examples/#", timeout=10)
            print(f"{msg.topic}: {msg.text()!r} in {(msg.received_at - started) * 1000:.1f} ms")
            client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))

"""The last will on a link loss, and automatic reconnect with resubscription.

Client 0 sets a will and reconnects by itself; client 1 (the A7600 has two) watches the will
topic. The virtual modem drops client 0's link as a flaky radio would.

Run: python examples/will_and_reconnect.py
"""

from __future__ import annotations

import sys
import threading
from urllib.parse import urlsplit

import modemqtt


def main() -> int:
    with modemqtt.VirtualModem("a7600") as vm, modemqtt.Modem(vm.port) as modem:
        broker = urlsplit(vm.broker_url)
        host, port = broker.hostname or "127.0.0.1", broker.port or 1883

        watcher = modem.mqtt("watcher", index=1)
        watcher.connect(host, port)
        watcher.subscribe("examples/status/#", qos=1)

        # One release per on_connect: the first connect's, then the reconnect's (callbacks
        # run later, on their own thread, so an Event set by the first could still be pending).
        connects = threading.Semaphore(0)
        device = modem.mqtt("device", index=0, auto_reconnect=True, reconnect_delay=(0.2, 2.0))
        device.on_disconnect = lambda cause: print(f"device: link lost (cause {cause})")
        device.on_connect = connects.release
        device.connect(host, port, will=modemqtt.Will("examples/status/device", b"offline", qos=1))
        device.subscribe("examples/cmd", qos=1)
        if not connects.acquire(timeout=10):
            print("no on_connect for the first connect", file=sys.stderr)
            return 1

        vm.drop_link(0, cause=1)
        will = watcher.wait_message("examples/status/#", timeout=10)
        print(f"watcher: {will.topic} = {will.text()}")

        if not connects.acquire(timeout=30):
            print("device did not reconnect", file=sys.stderr)
            return 1
        watcher.publish("examples/cmd", b"reboot", qos=1)
        cmd = device.wait_message("examples/cmd", timeout=10)
        print(f"device: got {cmd.text()!r} after reconnecting (subscription restored)")

        device.close()
        watcher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

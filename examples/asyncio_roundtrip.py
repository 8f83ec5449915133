"""Publish and receive with asyncio through a virtual modem: ``modemqtt.aio``.

Run: python examples/asyncio_roundtrip.py [PROFILE]
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit

import modemqtt
from modemqtt import aio


async def main(profile: str = "a7600") -> int:
    with modemqtt.VirtualModem(profile) as vm:
        broker = urlsplit(vm.broker_url)
        assert broker.hostname is not None and broker.port is not None
        async with aio.Modem(vm.port) as modem:
            info = await modem.info()
            print(f"{info.manufacturer} {info.model} ({info.family}) on {vm.port}")
            async with await modem.mqtt("asyncio-example") as client:
                await client.connect(broker.hostname, broker.port, keepalive=60)
                await client.subscribe("examples/async/#", qos=1)
                # Three publishes at once: the core runs them one after the other.
                await asyncio.gather(
                    *(client.publish(f"examples/async/{i}", f"m{i}", qos=1) for i in range(3))
                )
                received = 0
                async for msg in client.messages(timeout=5):
                    print(f"{msg.topic}: {msg.text()!r}")
                    received += 1
                    if received == 3:
                        break
                await client.disconnect()
    return 0 if received == 3 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:2])))

"""One description per modem family for the reliability suites (payloads, faults, injection,
secrets): how to make a connected client, what it can carry, how it reports a lost link.

Nothing here imports modemqtt at module level except the types used in hints."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from modemqtt import Modem, MqttClient, VirtualModem
from support import host_port

# A device triple the Alibaba virtual modems accept (any triple signs; the embedded broker
# does not check the signature).
PK = "CwlekguDcv3"
DN = "device"
DS = "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu"

# Causes the client reports for losses it detects itself (src/dialect/cmqtt.rs).
CAUSE_PORT_LOST = -1
CAUSE_RESTARTED = -2


@dataclass(frozen=True)
class Family:
    profile: str
    kind: str  # "cmqtt" | "qmt" | "aliyun" | "sm" | "umqtt"
    payload_max: int
    topic_max: int
    causes: tuple[int, ...]
    # Where the codec or the modem splits a payload (CMQTT: the virtual modem's
    # +CMQTTRXPAYLOAD part size); 0 when the family has no parts.
    part: int = 0
    # What payloads the family carries: "binary" any byte both ways; "line" any byte out
    # (counted after a prompt) but in only bytes without CR/LF (the receive URC is one
    # unframed line: SIMCom SM*); "text" UTF-8 text without CR/LF both ways (Alibaba).
    carries: str = "binary"
    # The largest payload received in one piece whatever the topic (0: payload_max); a
    # longer one arrives as several messages whose payloads join to the original.
    whole_max: int = 0

    @property
    def aliyun(self) -> bool:
        return self.kind == "aliyun"

    @property
    def binary(self) -> bool:
        """Payloads may hold any byte both ways."""
        return self.carries == "binary"

    @property
    def line(self) -> bool:
        """Any byte out; in, a line break inside a payload cannot be framed."""
        return self.carries == "line"

    def topic(self, tag: str = "t") -> str:
        base = f"/{PK}/{DN}/user" if self.aliyun else "modemqtt/rel"
        return f"{base}/{tag}-{uuid.uuid4().hex[:10]}"

    def client(self, modem: Modem, **kwargs: Any) -> MqttClient:
        """A new, not yet connected client on index 0."""
        if self.aliyun:
            kwargs.setdefault("poll_interval", 0.05)
            return modem.aliyun_mqtt(PK, DN, DS, **kwargs)
        return modem.mqtt(f"rel-{uuid.uuid4().hex[:10]}", 0, **kwargs)

    def connect(self, client: MqttClient, vm: VirtualModem, **kwargs: Any) -> None:
        if self.aliyun:
            client.connect(**kwargs)
        else:
            host, port = host_port(vm.broker_url)
            client.connect(host, port, **kwargs)

    def receive(self, client: MqttClient, topic: str, n: int, timeout: float = 20) -> bytes:
        """The payload of the next ``n``-byte message on ``topic``: past ``whole_max`` it
        comes in several messages (ESP-AT's receive buffer), joined here after checking
        that it did."""
        got = client.wait_message(topic, timeout=timeout).payload
        if self.whole_max and n > self.whole_max:
            parts = 1
            while len(got) < n:
                got += client.wait_message(topic, timeout=timeout).payload
                parts += 1
            # past the whole buffer (1024 bytes) it cannot come whole
            assert parts > 1 or n <= 1024, f"{self.profile}: a {n}-byte message arrived whole"
        return got

    def connected(self, modem: Modem, vm: VirtualModem, **kwargs: Any) -> MqttClient:
        c = self.client(modem, **kwargs)
        self.connect(c, vm)
        assert c.is_connected()
        return c


FAMILIES = {
    f.profile: f
    for f in [
        Family("a7600", "cmqtt", 10240, 1024, (1, 2, 3), part=1024),
        Family("sim7028", "cmqtt", 10240, 1024, (1, 2, 3), part=1024),
        Family("ec20", "qmt", 4096, 255, (1, 2, 3, 4, 5, 6, 7)),
        Family("bg96", "qmt", 4096, 255, (1, 2, 3, 4, 5, 6, 7)),
        # The Alibaba firmware reports any loss as +CMYIELD: 1 and reconnects by itself.
        Family("sim7600-aliyun", "aliyun", 1024, 159, (1, 2, 3), carries="text"),
        Family("sim7000-aliyun", "aliyun", 512, 159, (1, 2, 3), carries="text"),
        # SIMCom SM*: +SMSTATE: 0 has no cause (1 is modemqtt's name for it).
        Family("sim7080", "sm", 1024, 128, (1,), carries="line"),
        # u-blox: +UUMQTTC: 0,<100 inactivity|101 lost|102 protocol violation>.
        Family("sara-r5", "umqtt", 1024, 256, (100, 101, 102)),
        # ESP-AT: +MQTTDISCONNECTED:0 (1) and WIFI DISCONNECT (2); messages past the
        # module's 1024-byte receive buffer arrive in parts (whole_max, docs/espat.md).
        Family("esp32-at", "espat", 8192, 128, (1, 2), whole_max=1024 - 5 - 128 - 2),
    ]
}
PROFILES = list(FAMILIES)


def tx_bytes(modem: Modem) -> list[bytes]:
    """Everything written to the port so far, one entry per write."""
    return [d for _, direction, d in modem.transcript() if direction == "tx"]

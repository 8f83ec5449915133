"""The virtual modem (every family) against mosquitto, with mosquitto_sub / mosquitto_pub as
independent peers.

Neither our client nor our virtual modem is on the other side here, so a bug the two share
(framing, escaping, a byte lost at a part boundary) cannot hide.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator

import pytest
from modemqtt import Message, Modem, MqttClient, VirtualModem, Will
from support import MosquittoSub, host_port, mosquitto_pub, unique_topic

pytestmark = pytest.mark.usefixtures("mosquitto_clients")

TRICKY = b"line1\r\nOK\r\n\r\nERROR\r\n+CMQTTRXEND: 0\r\n\x00\x1a>\xff"


PAYLOAD_MAX = {"a7600": 10240, "sim7028": 10240, "ec20": 4096, "bg96": 4096}


@pytest.fixture(params=list(PAYLOAD_MAX))
def vm(request: pytest.FixtureRequest, mosquitto_broker: str) -> Iterator[VirtualModem]:
    with VirtualModem(str(request.param), broker=mosquitto_broker) as v:
        yield v


@pytest.fixture
def client(vm: VirtualModem, mosquitto_broker: str) -> Iterator[MqttClient]:
    with Modem(vm.port, timeout=10.0) as modem:
        with modem.mqtt(f"interop-{uuid.uuid4().hex[:10]}") as c:
            c.connect(*host_port(mosquitto_broker))
            yield c


def test_virtual_modem_uses_the_given_broker(vm: VirtualModem, mosquitto_broker: str) -> None:
    assert host_port(vm.broker_url) == host_port(mosquitto_broker)


@pytest.mark.parametrize(
    ("payload", "qos"),
    [(b"hello", 0), (TRICKY, 1), (bytes(range(256)) * 40, 1), (b"two", 2)],
    ids=["text-qos0", "tricky-qos1", "binary-max", "qos2"],
)
def test_mosquitto_sub_receives_exact_bytes(
    vm: VirtualModem, client: MqttClient, mosquitto_broker: str, payload: bytes, qos: int
) -> None:
    payload = payload[: PAYLOAD_MAX[vm.profile]]
    topic = unique_topic()
    with MosquittoSub(mosquitto_broker, topic, qos=2) as sub:
        sub.wait_subscribed()
        client.publish(topic, payload, qos=qos)
        assert sub.messages() == [(False, qos, payload)]


def test_retained_qos1_seen_by_later_mosquitto_sub(client: MqttClient, mosquitto_broker) -> None:
    topic = unique_topic()
    client.publish(topic, TRICKY, qos=1, retain=True)
    try:
        with MosquittoSub(mosquitto_broker, topic, qos=1) as sub:
            assert sub.messages() == [(True, 1, TRICKY)]
    finally:
        mosquitto_pub(mosquitto_broker, topic, "-r", "-n")  # clear it for other runs


def _receive(client: MqttClient, broker: str, topic: str, publish: list[str]) -> Message:
    client.subscribe(topic, qos=1)
    mosquitto_pub(broker, topic, "-q", "1", *publish)
    return client.wait_message(topic, timeout=15)


def test_mosquitto_pub_message(client: MqttClient, mosquitto_broker: str) -> None:
    topic = unique_topic()
    msg = _receive(client, mosquitto_broker, topic, ["-m", "hello from mosquitto_pub"])
    assert (msg.topic, msg.payload) == (topic, b"hello from mosquitto_pub")


def test_mosquitto_pub_empty_payload(client: MqttClient, mosquitto_broker: str) -> None:
    topic = unique_topic()
    msg = _receive(client, mosquitto_broker, topic, ["-n"])
    assert (msg.topic, msg.payload) == (topic, b"")


def test_mosquitto_pub_file_byte_exact(client: MqttClient, mosquitto_broker: str, tmp_path) -> None:
    topic = unique_topic()
    payload = TRICKY + bytes(range(256)) * 15
    path = tmp_path / "payload.bin"
    path.write_bytes(payload)
    msg = _receive(client, mosquitto_broker, topic, ["-f", str(path)])
    assert msg.payload == payload


def test_mosquitto_pub_qos2_and_wildcard(client: MqttClient, mosquitto_broker: str) -> None:
    base = unique_topic()
    got: queue.Queue[Message] = queue.Queue()
    client.on_message = got.put
    client.subscribe(f"{base}/+/temp", qos=2)
    mosquitto_pub(mosquitto_broker, f"{base}/lab42/temp", "-q", "2", "-m", "21.5")
    msg = got.get(timeout=15)
    assert (msg.topic, msg.payload) == (f"{base}/lab42/temp", b"21.5")


def test_will_seen_by_mosquitto_sub(vm: VirtualModem, mosquitto_broker: str) -> None:
    topic = unique_topic()
    # QMT wills are quoted text on the command line; CMQTT ones go raw after a prompt.
    will = b"offline, lab 42" if vm.profile in ("ec20", "bg96") else TRICKY[:100]
    with MosquittoSub(mosquitto_broker, topic, qos=1) as sub:
        sub.wait_subscribed()
        with Modem(vm.port, timeout=10.0) as modem:
            with modem.mqtt(f"will-{uuid.uuid4().hex[:10]}") as c:
                c.connect(*host_port(mosquitto_broker), will=Will(topic, will, qos=1))
                vm.drop_link(0)
                assert sub.messages() == [(False, 1, will)]

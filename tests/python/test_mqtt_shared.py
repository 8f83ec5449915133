"""Behaviour every MQTT family shares, run on one profile of each kind.

Modem + MqttClient -> VirtualModem (pty) -> embedded broker, parametrised over a SIMCom CMQTT
profile with two clients (a7600), one with a single client (sim7028), and the Quectel QMT
profiles ec20 (AT+QMTPUBEX) and bg96 (AT+QMTPUB), and one profile of each other family:
sim7080 (SIMCom AT+SM*), sara-r5 (u-blox AT+UMQTT), esp32-at (Espressif ESP-AT). The Alibaba
firmware has its own suites (test_aliyun_*.py); family-specific behaviour lives in the
test_<family>_virtual.py files.
"""

from __future__ import annotations

import queue
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable

import pytest
from modemqtt import (
    CommandError,
    Message,
    Modem,
    ModemError,
    ModemTimeout,
    MqttClient,
    MqttError,
    VirtualModem,
    Will,
)
from support import (
    Paho,
    connected,
    free_port,
    new_id,
    round_trip_in_order,
    sim_timing,
    tx_entries,
    unique_topic,
    wait_until,
)


@dataclass(frozen=True)
class Facts:
    family: str
    clients: int
    payload_max: int
    topic_max: int
    causes: tuple[int, ...]
    client_id_max: int
    # A received payload is one unframed line (SIMCom +SMSUB: "<topic>","<message>"): it
    # cannot hold CR or LF, and an empty one is refused (docs/sm.md).
    lines_only: bool = False
    # An empty payload: "any" QoS and retain, "retained" only (u-blox: ubxlib's text
    # publish), "refused" (ValueError before sending).
    empty: str = "any"
    # The largest message received in one piece (0: payload_max); a longer one arrives in
    # parts (ESP-AT's 1024-byte receive buffer, docs/espat.md).
    whole_max: int = 0


def carried(payload: bytes, facts: Facts) -> bytes:
    """`payload` as the family can receive it: CR and LF left out where a message is a line."""
    return payload.replace(b"\r", b"").replace(b"\n", b"") if facts.lines_only else payload


FACTS = {
    "a7600": Facts("cmqtt", 2, 10240, 1024, (1, 2, 3), 128),
    "sim7028": Facts("cmqtt", 1, 10240, 1024, (1, 2, 3), 256),
    "ec20": Facts("qmt", 6, 4096, 255, (1, 2, 3, 4, 5, 6, 7), 128),
    "bg96": Facts("qmt", 6, 4096, 255, (1, 2, 3, 4, 5, 6, 7), 128),
    "sim7080": Facts("sm", 1, 1024, 128, (1,), 128, lines_only=True, empty="refused"),
    "sara-r5": Facts("umqtt", 1, 1024, 256, (100, 101, 102), 256, empty="retained"),
    "esp32-at": Facts("espat", 1, 8192, 128, (1, 2), 1024, empty="refused", whole_max=889),
}


@pytest.fixture(params=list(FACTS))
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def facts(profile: str) -> Facts:
    return FACTS[profile]


@pytest.fixture
def vm(profile: str) -> Iterator[VirtualModem]:
    # $MODEMQTT_SIM_TIMING=realistic runs the suite with network round trips (make test-realistic).
    with VirtualModem(profile, timing=sim_timing()) as v:
        yield v


# ----------------------------------------------------------------------------- identity


def test_detects_family(modem: Modem, profile: str, facts: Facts) -> None:
    info = modem.info()
    assert info.family == facts.family
    assert modem.family == facts.family
    assert profile.upper()[:4] in info.model.upper()
    if facts.family == "espat":
        # A Wi-Fi chip has no IMEI: its station MAC stands in (docs/espat.md).
        assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", info.imei), info.imei
    else:
        assert info.imei.isdigit() and len(info.imei) == 15


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_round_trip(modem: Modem, broker, facts: Facts, qos: int) -> None:
    topic = unique_topic()
    payload = carried(b'hello \x00\r\nOK\r\n"quoted",\r\n+QMTRECV: 0,1,"x",1,"y"\r\n', facts)
    with connected(modem, broker) as client:
        client.subscribe(topic, qos=qos)
        before = time.time()
        client.publish(topic, payload, qos=qos)
        msg = client.wait_message(topic, timeout=10)
        after = time.time()
    assert isinstance(msg, Message)
    assert (msg.topic, msg.payload, msg.client_index) == (topic, payload, 0)
    assert msg.retain is None
    assert before <= msg.received_at <= after


def test_str_payload_is_utf8(modem: Modem, broker) -> None:
    topic = unique_topic()
    text = "grüße ✓ 温度"
    with connected(modem, broker) as client:
        client.subscribe(topic, qos=1)
        client.publish(topic, text, qos=1)
        msg = client.wait_message(topic, timeout=10)
    assert msg.payload == text.encode("utf-8")
    assert msg.text() == text


def test_empty_payload(modem: Modem, broker, facts: Facts) -> None:
    topic = unique_topic()
    with connected(modem, broker) as client:
        client.subscribe(topic, qos=1)
        if facts.empty != "any":
            sent = tx_entries(modem)
            with pytest.raises(ValueError, match="payload"):
                client.publish(topic, b"", qos=1)
            assert tx_entries(modem) == sent
            if facts.empty == "retained":
                client.publish(topic, b"", qos=1, retain=True)
                assert client.wait_message(topic, timeout=10).payload == b""
            return
        client.publish(topic, b"", qos=1)
        assert client.wait_message(topic, timeout=10).payload == b""


def test_on_message_callback(modem: Modem, broker) -> None:
    topic = unique_topic()
    got: queue.Queue[Message] = queue.Queue()
    with connected(modem, broker) as client:
        client.on_message = got.put
        client.subscribe(topic, qos=1)
        client.publish(topic, b"via callback", qos=1)
        msg = got.get(timeout=10)
    assert (msg.topic, msg.payload) == (topic, b"via callback")


def test_messages_iterator_in_order(modem: Modem, broker) -> None:
    topic = unique_topic()
    with connected(modem, broker) as client:
        got = round_trip_in_order(client, topic, 5, timeout=10)
    assert got == [b"m0", b"m1", b"m2", b"m3", b"m4"]


def test_wait_message_filter_keeps_other_messages(modem: Modem, broker) -> None:
    base = unique_topic()
    with connected(modem, broker) as client:
        client.subscribe(f"{base}/#", qos=1)
        client.publish(f"{base}/a/x", b"first", qos=1)
        client.publish(f"{base}/b/x", b"second", qos=1)
        assert client.wait_message(f"{base}/b/+", timeout=10).payload == b"second"
        other = client.wait_message(timeout=10)
        assert (other.topic, other.payload) == (f"{base}/a/x", b"first")


def test_wait_message_times_out(modem: Modem, broker) -> None:
    with connected(modem, broker) as client:
        client.subscribe(unique_topic(), qos=0)
        with pytest.raises(ModemTimeout):
            client.wait_message(timeout=0.5)


def test_subscribe_list_and_unsubscribe(modem: Modem, broker) -> None:
    t1, t2 = unique_topic(), unique_topic()
    with connected(modem, broker) as client:
        client.subscribe([(t1, 1), (t2, 1)])
        client.publish(t1, b"one", qos=1)
        client.publish(t2, b"two", qos=1)
        got = {client.wait_message(timeout=10).topic, client.wait_message(timeout=10).topic}
        assert got == {t1, t2}
        client.unsubscribe(t1)
        client.publish(t1, b"not for us", qos=1)
        client.publish(t2, b"still", qos=1)
        msg = client.wait_message(timeout=10)
        assert (msg.topic, msg.payload) == (t2, b"still")
        client.unsubscribe([t2])


def test_retained_message_reaches_new_subscription(vm: VirtualModem, modem: Modem, broker) -> None:
    topic = unique_topic()
    with connected(modem, broker) as client:
        client.publish(topic, b"kept", qos=1, retain=True)
        client.subscribe(topic, qos=1)
        assert client.wait_message(topic, timeout=10).payload == b"kept"
    with Paho(vm.broker_url) as peer:
        peer.subscribe(topic, qos=1)
        msg = peer.get()
    assert (msg.payload, msg.retain) == (b"kept", True)


def test_largest_binary_payload_byte_exact(modem: Modem, broker, facts: Facts) -> None:
    topic = unique_topic()
    payload = (carried(bytes(range(256)), facts) * 45)[: facts.payload_max]
    with connected(modem, broker) as client:
        client.subscribe(topic, qos=1)
        client.publish(topic, payload, qos=1)
        got = client.wait_message(topic, timeout=30).payload
        # Past whole_max the message comes in parts, in order, that join to it.
        while facts.whole_max and len(got) < len(payload):
            got += client.wait_message(topic, timeout=30).payload
        with pytest.raises(ValueError):
            client.publish(topic, payload + b"x", qos=1)
    assert got == payload


def test_longest_topic(modem: Modem, broker, facts: Facts) -> None:
    topic = unique_topic()
    topic += "/" + "t" * (facts.topic_max - len(topic) - 1)
    assert len(topic.encode()) == facts.topic_max
    with connected(modem, broker) as client:
        client.subscribe(topic, qos=1)
        client.publish(topic, b"long topic", qos=1)
        assert client.wait_message(topic, timeout=10).topic == topic
        with pytest.raises(ValueError):
            client.publish(topic + "x", b"too long", qos=1)


def test_bytewise_output_and_noise(vm: VirtualModem, modem: Modem, broker, facts: Facts) -> None:
    topic = unique_topic()
    payload = (b"OK\r\nERROR\r\n> " if not facts.lines_only else b'OK ERROR > ",OK",') * 20
    with connected(modem, broker) as client:
        client.subscribe(topic, qos=1)
        vm.set_chunk_size(1)
        client.publish(topic, payload, qos=1)
        msg = client.wait_message(topic, timeout=30)
        vm.set_chunk_size(None)
        vm.inject_noise(b"\x00\xff\r\ngarbage\r\n\xfe")
        client.publish(topic, b"after noise", qos=1)
        assert client.wait_message(topic, timeout=10).payload == b"after noise"
    assert msg.payload == payload
    assert modem.command("AT").final == "OK"


def test_every_client_index_at_once(modem: Modem, broker, facts: Facts) -> None:
    topics = [unique_topic() for _ in range(facts.clients)]
    clients = [connected(modem, broker, index=i) for i in range(facts.clients)]
    try:
        for c, t in zip(clients, topics):
            c.subscribe(t, qos=1)
        for i, c in enumerate(clients):
            c.publish(topics[(i + 1) % facts.clients], f"from {i}", qos=1)
        for i, c in enumerate(clients):
            msg = c.wait_message(topics[i], timeout=10)
            assert msg.client_index == i
            assert msg.payload == f"from {(i - 1) % facts.clients}".encode()
        with pytest.raises(ValueError):
            modem.mqtt(new_id(), facts.clients)
    finally:
        for c in clients:
            c.close()


def test_disconnect_and_connect_again(modem: Modem, broker) -> None:
    topic = unique_topic()
    with modem.mqtt(new_id()) as client:
        client.connect(*broker)
        client.disconnect()
        assert not client.is_connected()
        client.connect(*broker)
        client.subscribe(topic, qos=1)
        client.publish(topic, b"again", qos=1)
        assert client.wait_message(topic, timeout=10).payload == b"again"


# ----------------------------------------------------------------------------- will, link loss


def test_will_reaches_paho_on_link_loss(vm: VirtualModem, modem: Modem, broker) -> None:
    topic = unique_topic()
    with Paho(vm.broker_url) as peer:
        peer.subscribe(topic, qos=1)
        with connected(modem, broker, will=Will(topic, "offline", qos=1)):
            vm.drop_link(0)
            msg = peer.get(timeout=15)
    assert msg.payload == b"offline"


def test_clean_disconnect_sends_no_will(vm: VirtualModem, modem: Modem, broker) -> None:
    topic = unique_topic()
    with Paho(vm.broker_url) as peer:
        peer.subscribe(topic, qos=1)
        client = connected(modem, broker, will=Will(topic, b"gone", qos=1))
        client.disconnect()
        client.close()
        peer.publish(topic, b"marker", qos=1)
        assert peer.get(timeout=10).payload == b"marker"  # the will would have come first


def test_drop_link_calls_on_disconnect_with_each_cause(
    vm: VirtualModem, modem: Modem, broker, facts: Facts
) -> None:
    causes: queue.Queue[int] = queue.Queue()
    with modem.mqtt(new_id()) as client:
        client.on_disconnect = causes.put
        for cause in facts.causes:
            client.connect(*broker)
            vm.drop_link(0, cause=cause)
            assert causes.get(timeout=10) == cause
            wait_until(lambda: not client.is_connected(), timeout=5, what="is_connected() False")
    with pytest.raises(ValueError):
        vm.drop_link(0, cause=max(facts.causes) + 1)


def test_publish_after_link_loss_raises(vm: VirtualModem, modem: Modem, broker) -> None:
    causes: queue.Queue[int] = queue.Queue()
    with connected(modem, broker) as client:
        client.on_disconnect = causes.put
        vm.drop_link(0)
        causes.get(timeout=10)
        with pytest.raises((MqttError, CommandError)):
            client.publish(unique_topic(), b"lost", qos=1)


def test_connect_refused_raises_mqtt_error(modem: Modem) -> None:
    with modem.mqtt(new_id()) as client:
        with pytest.raises(MqttError) as err:
            client.connect("127.0.0.1", free_port(), timeout=30)
        assert err.value.operation == "connect"
        assert err.value.code != 0
        assert err.value.name
        assert isinstance(err.value, ModemError)
        assert not client.is_connected()


def test_auto_reconnect_resubscribes(vm: VirtualModem, modem: Modem, broker, facts: Facts) -> None:
    topic = unique_topic()
    causes: queue.Queue[int] = queue.Queue()
    connects: list[float] = []
    with modem.mqtt(new_id(), auto_reconnect=True, reconnect_delay=(0.1, 1.0)) as client:
        client.on_disconnect = causes.put
        client.on_connect = lambda: connects.append(time.time())
        client.connect(broker[0], broker[1], clean_session=True)
        client.subscribe(topic, qos=1)
        seen = len(connects)
        vm.drop_link(0, cause=facts.causes[0])
        assert causes.get(timeout=10) == facts.causes[0]
        wait_until(client.is_connected, timeout=30, what="reconnect")
        with Paho(vm.broker_url) as peer:
            msg = None
            deadline = time.monotonic() + 30
            attempt = 0
            while msg is None and time.monotonic() < deadline:
                attempt += 1
                peer.publish(topic, f"after-{attempt}", qos=1)
                try:
                    msg = client.wait_message(topic, timeout=1.0)
                except ModemTimeout:
                    pass
        assert msg is not None, "no message after reconnect: not resubscribed?"
        wait_until(lambda: len(connects) > seen, timeout=5, what="on_connect after reconnect")


def test_reboot_drops_connections(vm: VirtualModem, modem: Modem, broker) -> None:
    with connected(modem, broker) as client:
        vm.reboot()
        wait_until(lambda: not client.is_connected(), timeout=20, what="link down after reboot")

    def answers() -> bool:
        try:
            return modem.command("AT", timeout=1.0).final == "OK"
        except (ModemTimeout, CommandError):
            return False

    wait_until(answers, timeout=30, what="modem answering after reboot")
    with connected(modem, broker) as client:
        assert client.is_connected()


def test_password_is_masked(modem: Modem, broker) -> None:
    secret = "hunter2-" + uuid.uuid4().hex
    with connected(modem, broker, username="lab", password=secret):
        pass
    text = modem.transcript_text()
    assert secret not in text
    assert all(secret.encode() not in data for _, _, data in modem.transcript())
    assert "***" in text


# ----------------------------------------------------------------------------- limits

LIMITS: list[tuple[str, Callable[[Modem, tuple[str, int], Facts], object]]] = [
    ("index-too-high", lambda m, b, f: m.mqtt(new_id(), f.clients).connect(*b)),
    ("client-id-too-long", lambda m, b, f: m.mqtt("c" * (f.client_id_max + 1)).connect(*b)),
    ("client-id-empty", lambda m, b, f: m.mqtt("").connect(*b)),
    ("client-id-quote", lambda m, b, f: m.mqtt('a"b').connect(*b)),
    ("username-quote", lambda m, b, f: m.mqtt(new_id()).connect(*b, username='u"')),
    ("host-quote", lambda m, b, f: m.mqtt(new_id()).connect('bad"host', b[1])),
    ("port-0", lambda m, b, f: m.mqtt(new_id()).connect(b[0], 0)),
    ("will-topic-empty", lambda m, b, f: m.mqtt(new_id()).connect(*b, will=Will("", b"x"))),
    ("will-qos-3", lambda m, b, f: m.mqtt(new_id()).connect(*b, will=Will("w", b"x", qos=3))),
]


@pytest.mark.parametrize("case", [c[1] for c in LIMITS], ids=[c[0] for c in LIMITS])
def test_connect_limits_raise_value_error_before_sending(
    modem: Modem, broker, facts: Facts, case
) -> None:
    sent = tx_entries(modem)
    with pytest.raises(ValueError):
        case(modem, broker, facts)
    assert tx_entries(modem) == sent, "something was written before the ValueError"


OP_LIMITS: list[tuple[str, Callable[[MqttClient], object]]] = [
    ("publish-empty-topic", lambda c: c.publish("", b"x")),
    ("publish-wildcard", lambda c: c.publish("a/+", b"x")),
    ("publish-qos-3", lambda c: c.publish("t", b"x", qos=3)),
    ("subscribe-empty", lambda c: c.subscribe("", qos=0)),
    ("subscribe-qos-3", lambda c: c.subscribe("t", qos=3)),
    ("subscribe-list-qos-3", lambda c: c.subscribe([("a", 0), ("b", 3)])),
    ("unsubscribe-empty", lambda c: c.unsubscribe("")),
]


@pytest.mark.parametrize("case", [c[1] for c in OP_LIMITS], ids=[c[0] for c in OP_LIMITS])
def test_operation_limits_raise_value_error_before_sending(modem: Modem, broker, case) -> None:
    with connected(modem, broker) as client:
        sent = tx_entries(modem)
        with pytest.raises(ValueError):
            case(client)
        assert tx_entries(modem) == sent, "something was written before the ValueError"
        assert client.is_connected()

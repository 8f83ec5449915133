"""SIMCom CMQTT end to end: Modem + MqttClient -> VirtualModem (pty) -> embedded broker.

The behaviour all families share is in test_mqtt_shared.py; this file keeps what is CMQTT's own.

The CMQTT receive URCs (+CMQTTRXSTART/RXTOPIC/RXPAYLOAD/RXEND) carry neither QoS nor the retain
flag, so Message.qos and Message.retain are None for this family.
"""

from __future__ import annotations

import json
import os
import queue
from collections.abc import Iterator
from typing import Any, Callable

import modemqtt
import pytest
from modemqtt import (
    CommandError,
    Modem,
    ModemError,
    ModemTimeout,
    MqttClient,
    MqttError,
    VirtualModem,
    Will,
)
from support import (
    cli_sim,
    connected,
    host_port,
    new_id,
    run_cli,
    sim_timing,
    tx_entries,
    unique_topic,
    wait_until,
)

BINARY = bytes(range(256)) * 40  # 10240 bytes, every byte value, the A7600 maximum
assert len(BINARY) == 10240


@pytest.fixture
def vm() -> Iterator[VirtualModem]:
    with VirtualModem("a7600", timing=sim_timing()) as v:
        yield v


# ----------------------------------------------------------------------------- the double


def test_profiles() -> None:
    assert {"a7600", "sim7600", "sim7028"} <= set(modemqtt.profiles())


def test_virtual_modem_properties(vm: VirtualModem) -> None:
    assert vm.profile == "a7600"
    assert os.path.exists(vm.port)
    assert vm.broker_url.startswith("mqtt://")
    host, port = host_port(vm.broker_url)
    assert host and port > 0
    stats = vm.stats()
    assert isinstance(stats, dict)
    assert all(isinstance(k, str) and isinstance(v, int) for k, v in stats.items())


def test_unknown_profile_is_rejected() -> None:
    with pytest.raises(ValueError):
        VirtualModem("no-such-modem")


@pytest.mark.parametrize("profile", ["a7600", "sim7600", "sim7028"])
def test_info_per_profile(profile: str) -> None:
    with VirtualModem(profile) as v, Modem(v.port, timeout=10.0) as m:
        info = m.info()
        assert info.family == "cmqtt"
        assert m.family == "cmqtt"
        assert profile.upper() in info.model.upper()
        assert info.imei.isdigit() and len(info.imei) == 15
        assert m.command("AT").final == "OK"


def test_sim_url_starts_a_virtual_modem() -> None:
    with Modem("sim://a7600", timeout=10.0) as m:
        assert m.port == "sim://a7600"
        assert m.info().family == "cmqtt"
        assert m.command("AT+CSQ").final == "OK"


# ----------------------------------------------------------------------------- round trips


def test_messages_iterator_ends_when_quiet(modem: Modem, broker) -> None:
    with connected(modem, broker) as client:
        client.subscribe(unique_topic(), qos=0)
        assert list(client.messages(timeout=0.3)) == []


def test_topic_with_quote_is_allowed(modem: Modem, broker) -> None:
    # CMQTT topics go raw after the '>' prompt, so only their length is limited
    topic = unique_topic() + '/say "hi",1'
    with connected(modem, broker) as client:
        client.subscribe(topic, qos=1)
        client.publish(topic, b"quoted", qos=1)
        assert client.wait_message(topic, timeout=10).topic == topic


def test_retained_message_reaches_new_subscription(modem: Modem, broker) -> None:
    topic = unique_topic()
    with connected(modem, broker) as client:
        client.publish(topic, b"kept", qos=1, retain=True)
        client.subscribe(topic, qos=1)
        msg = client.wait_message(topic, timeout=10)
    assert msg.payload == b"kept"
    assert msg.retain is None  # CMQTT does not report it
    assert msg.qos is None


def test_topic_and_payload_in_many_parts() -> None:
    with VirtualModem("a7600", part_size=7) as v, Modem(v.port, timeout=10.0) as m:
        topic = unique_topic() + "/" + "abcdefghij" * 5
        payload = bytes(range(256)) * 3 + b"\r\n+CMQTTRXEND: 0\r\n"
        with connected(m, host_port(v.broker_url)) as client:
            client.subscribe(topic, qos=1)
            client.publish(topic, payload, qos=1)
            msg = client.wait_message(topic, timeout=20)
        assert (msg.topic, msg.payload) == (topic, payload)


def test_set_part_size_and_bytewise_output(vm: VirtualModem, modem: Modem, broker) -> None:
    topic = unique_topic()
    payload = b"OK\r\nERROR\r\n" * 20
    with connected(modem, broker) as client:
        client.subscribe(topic, qos=1)
        vm.set_part_size(3)
        vm.set_chunk_size(1)
        client.publish(topic, payload, qos=1)
        msg = client.wait_message(topic, timeout=30)
        vm.set_chunk_size(None)
    assert (msg.topic, msg.payload) == (topic, payload)


def test_paced_output_still_delivers_whole_messages(vm: VirtualModem, modem: Modem, broker) -> None:
    topic = unique_topic()
    payload = bytes(range(256))
    with connected(modem, broker) as client:
        client.subscribe(topic, qos=1)
        vm.set_baudrate(921600)
        client.publish(topic, payload, qos=1)
        msg = client.wait_message(topic, timeout=30)
        assert modem.command("AT").final == "OK"
        vm.set_baudrate(None)
    assert (msg.topic, msg.payload) == (topic, payload)


@pytest.mark.parametrize("baud", [0, 49, 16_000_001, -1])
def test_set_baudrate_rejects_out_of_range(vm: VirtualModem, baud: int) -> None:
    with pytest.raises(ValueError, match="baud: must be between 50 and 16000000"):
        vm.set_baudrate(baud)


def test_queue_overflow_is_counted(modem: Modem, broker) -> None:
    topic = unique_topic()
    with connected(modem, broker, client_kwargs={"queue_size": 2}) as client:
        client.subscribe(topic, qos=1)
        for i in range(5):
            client.publish(topic, f"m{i}", qos=1)
        wait_until(lambda: client.dropped == 3, timeout=20, what="3 dropped messages")
        kept = list(client.messages(timeout=0.5))
    assert len(kept) == 2


# ----------------------------------------------------------------------------- will, link loss


def test_will_reaches_other_client_index(vm: VirtualModem, modem: Modem, broker) -> None:
    topic = unique_topic()
    with connected(modem, broker, index=1) as watcher:
        watcher.subscribe(topic, qos=1)
        with connected(modem, broker, index=0, will=Will(topic, b"gone", qos=1)):
            vm.drop_link(0)
            msg = watcher.wait_message(topic, timeout=15)
    assert msg.payload == b"gone"
    assert msg.client_index == 1


def test_publish_after_link_loss_raises_mqtt_error(vm: VirtualModem, modem: Modem, broker) -> None:
    causes: queue.Queue[int] = queue.Queue()
    with connected(modem, broker) as client:
        client.on_disconnect = causes.put
        vm.drop_link(0)
        causes.get(timeout=10)
        with pytest.raises(MqttError) as err:
            client.publish(unique_topic(), b"lost", qos=1)
    assert err.value.operation == "publish"
    assert err.value.code == 11
    assert err.value.name == "no connection"
    assert isinstance(err.value, ModemError)


# ----------------------------------------------------------------------------- fault injection


def test_refuse_and_stop_refusing(vm: VirtualModem, modem: Modem) -> None:
    vm.refuse("AT+CSQ", "+CME ERROR: 10")
    with pytest.raises(CommandError) as err:
        modem.command("AT+CSQ")
    assert err.value.code == 10
    vm.refuse(None)
    assert modem.command("AT+CSQ").final == "OK"


def test_refused_connect_fails_cleanly(vm: VirtualModem, modem: Modem, broker) -> None:
    vm.refuse("AT+CMQTTCONNECT", "ERROR")
    client = modem.mqtt(new_id())
    try:
        with pytest.raises(ModemError):
            client.connect(broker[0], broker[1], timeout=20)
        assert not client.is_connected()
        vm.refuse(None)
    finally:
        client.close()


def test_response_delay_times_out_then_recovers(vm: VirtualModem, modem: Modem) -> None:
    vm.set_response_delay(1.0)
    rx_before = len([e for e in modem.transcript() if e[1] == "rx"])
    with pytest.raises(ModemTimeout):
        modem.command("AT+CSQ", timeout=0.3)
    vm.set_response_delay(0.0)
    # let the late answer arrive before the next command, so the test checks resync, not luck
    wait_until(
        lambda: len([e for e in modem.transcript() if e[1] == "rx"]) > rx_before,
        timeout=10,
        what="the late answer",
    )
    r = modem.command("AT+CGMM")
    assert r.final == "OK"
    assert not any(line.startswith("+CSQ") for line in r.lines)


# ----------------------------------------------------------------------------- secrets


# ----------------------------------------------------------------------------- limits

LONG_ID = "c" * 129
NEGATIVE = "negative"
CONNECT_LIMITS: list[tuple[str, Callable[[Modem, tuple[str, int]], object]]] = [
    ("index-2", lambda m, b: m.mqtt(new_id(), 2).connect(*b)),
    ("index-negative", lambda m, b: m.mqtt(new_id(), -1).connect(*b)),
    ("client-id-129", lambda m, b: m.mqtt(LONG_ID).connect(*b)),
    ("client-id-empty", lambda m, b: m.mqtt("").connect(*b)),
    ("client-id-quote", lambda m, b: m.mqtt('a"b').connect(*b)),
    ("keepalive-0", lambda m, b: m.mqtt(new_id()).connect(*b, keepalive=0)),
    ("keepalive-64801", lambda m, b: m.mqtt(new_id()).connect(*b, keepalive=64801)),
    ("username-empty", lambda m, b: m.mqtt(new_id()).connect(*b, username="")),
    ("username-257", lambda m, b: m.mqtt(new_id()).connect(*b, username="u" * 257)),
    ("password-257", lambda m, b: m.mqtt(new_id()).connect(*b, username="u", password="p" * 257)),
    ("username-quote", lambda m, b: m.mqtt(new_id()).connect(*b, username='u"')),
    ("host-quote", lambda m, b: m.mqtt(new_id()).connect('bad"host', b[1])),
    ("port-0", lambda m, b: m.mqtt(new_id()).connect(b[0], 0)),
    ("will-topic-empty", lambda m, b: m.mqtt(new_id()).connect(*b, will=Will("", b"x"))),
    ("will-topic-1025", lambda m, b: m.mqtt(new_id()).connect(*b, will=Will("w" * 1025, b"x"))),
    ("will-msg-1025", lambda m, b: m.mqtt(new_id()).connect(*b, will=Will("w", b"x" * 1025))),
    ("will-qos-3", lambda m, b: m.mqtt(new_id()).connect(*b, will=Will("w", b"x", qos=3))),
]


@pytest.mark.parametrize("case", [c[1] for c in CONNECT_LIMITS], ids=[c[0] for c in CONNECT_LIMITS])
def test_connect_limits_raise_value_error_before_sending(
    request: pytest.FixtureRequest, modem: Modem, broker, case
) -> None:
    sent = tx_entries(modem)
    with pytest.raises(expected_error(request)):
        case(modem, broker)
    assert tx_entries(modem) == sent, "something was written before the ValueError"


def expected_error(request: pytest.FixtureRequest) -> Any:
    """ValueError; a negative number may also fail pyo3's unsigned conversion (OverflowError)."""
    if NEGATIVE in request.node.callspec.id:
        return (ValueError, OverflowError)
    return ValueError


OP_LIMITS: list[tuple[str, Callable[[MqttClient], object]]] = [
    ("publish-empty-topic", lambda c: c.publish("", b"x")),
    ("publish-topic-1025", lambda c: c.publish("t" * 1025, b"x")),
    ("publish-payload-10241", lambda c: c.publish("t", b"x" * 10241)),
    ("publish-qos-3", lambda c: c.publish("t", b"x", qos=3)),
    ("publish-qos-negative", lambda c: c.publish("t", b"x", qos=-1)),
    ("subscribe-empty", lambda c: c.subscribe("", qos=0)),
    ("subscribe-topic-1025", lambda c: c.subscribe("t" * 1025, qos=0)),
    ("subscribe-qos-3", lambda c: c.subscribe("t", qos=3)),
    ("subscribe-list-qos-3", lambda c: c.subscribe([("a", 0), ("b", 3)])),
    ("unsubscribe-empty", lambda c: c.unsubscribe("")),
    ("unsubscribe-topic-1025", lambda c: c.unsubscribe("t" * 1025)),
]


@pytest.mark.parametrize("case", [c[1] for c in OP_LIMITS], ids=[c[0] for c in OP_LIMITS])
def test_operation_limits_raise_value_error_before_sending(
    request: pytest.FixtureRequest, modem: Modem, broker, case
) -> None:
    with connected(modem, broker) as client:
        sent = tx_entries(modem)
        with pytest.raises(expected_error(request)):
            case(client)
        assert tx_entries(modem) == sent, "something was written before the ValueError"
        assert client.is_connected()


def test_longest_client_id_on_a7600(modem: Modem, broker) -> None:
    client = modem.mqtt("c" * 128)
    try:
        client.connect(*broker)
        assert client.is_connected()
    finally:
        client.close()


def test_sim7028_limits() -> None:
    with VirtualModem("sim7028") as v, Modem(v.port, timeout=10.0) as m:
        broker = host_port(v.broker_url)
        with pytest.raises(ValueError):
            m.mqtt(new_id(), 1).connect(*broker)
        with pytest.raises(ValueError):
            m.mqtt("c" * 257).connect(*broker)
        client = m.mqtt("c" * 256)
        try:
            client.connect(*broker)
            assert client.is_connected()
            topic = unique_topic()
            client.subscribe(topic, qos=1)
            client.publish(topic, b"nb-iot", qos=1)
            assert client.wait_message(topic, timeout=10).payload == b"nb-iot"
        finally:
            client.close()


# ----------------------------------------------------------------------------- CLI


def test_cli_demo_round_trip() -> None:
    done = run_cli("demo")
    assert done.returncode == 0, done.stderr
    assert "round trip" in done.stdout
    assert " ms" in done.stdout
    assert "family cmqtt" in done.stdout


def test_cli_demo_json() -> None:
    done = run_cli("demo", "--json", "--profile", "sim7600")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["topic"] == "modemqtt/demo/hello"
    assert doc["latency_ms"] >= 0
    assert doc["modem"]["family"] == "cmqtt"


def test_cli_demo_quiet_prints_one_line() -> None:
    done = run_cli("demo", "-q")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1


def test_cli_error_is_one_line_and_non_zero() -> None:
    done = run_cli("demo", "--profile", "no-such-modem")
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("modemqtt: error:")


@pytest.mark.parametrize("command", [[], ["demo"], ["sim"], ["profiles"]])
def test_cli_help(command: list[str]) -> None:
    done = run_cli(*command, "--help")
    assert done.returncode == 0
    assert "usage: modemqtt" in done.stdout


def test_cli_main_in_process(capsys) -> None:
    from modemqtt.cli import main

    assert main(["profiles", "--json"]) == 0
    assert "a7600" in json.loads(capsys.readouterr().out)
    assert main([]) == 2


def test_cli_sim_serves_until_sigterm() -> None:
    with cli_sim("a7600") as doc:
        assert doc["profile"] == "a7600"
        with Modem(doc["port"], timeout=10.0) as m:
            assert m.info().family == "cmqtt"

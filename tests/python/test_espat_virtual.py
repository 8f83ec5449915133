"""Espressif ESP-AT end to end on esp32-at: what is this family's own (escaping and the line
limit, long credentials, the subscription limit, messages past the receive buffer, the
Wi-Fi loss, identity from AT+GMR). The behaviour all families share runs through
families.py in the shared suites."""

from __future__ import annotations

import queue
import uuid

import pytest
from modemqtt import Modem, MqttClient, VirtualModem
from support import Paho, host_port, vm_and_modem, wait_until

vm, modem = vm_and_modem("esp32-at")


def tx(modem: Modem) -> list[bytes]:
    return [d for _, k, d in modem.transcript() if k == "tx"]


def connected(
    modem: Modem, vm: VirtualModem, client_id: str = "", opts: dict | None = None, **kw: object
) -> MqttClient:
    c = modem.mqtt(client_id or f"e-{uuid.uuid4().hex[:8]}", **(opts or {}))
    c.connect(*host_port(vm.broker_url), **kw)
    return c


def test_identity_and_signal_come_from_at_gmr_and_cwjap(modem: Modem) -> None:
    assert modem.family == "espat"
    info = modem.info()
    assert (info.manufacturer, info.model) == ("Espressif", "ESP32")
    assert info.revision.startswith("2.2.0.0-dev(")
    sq = modem.signal_quality()
    assert sq.rssi_dbm == -52 and sq.ber is None
    sent = b"".join(tx(modem))
    assert b"AT+CGMI" in sent  # the maker probe of auto-detection, answered ERROR
    assert b"AT+CGSN" not in sent and b"AT+CSQ" not in sent


def test_escaped_values_and_long_credentials(modem: Modem, vm: VirtualModem) -> None:
    user = "user,with\\comma"
    password = "p" * 100  # past AT+MQTTUSERCFG's 64 bytes: AT+MQTTLONGPASSWORD
    with connected(modem, vm, client_id="id,1", username=user, password=password) as c:
        topic = f'esp/{uuid.uuid4().hex[:6]},"q"'
        c.subscribe(topic, qos=1)
        c.publish(topic, b'a,b\r\n"c"', qos=1)
        msg = c.wait_message(timeout=10)
        assert (msg.topic, msg.payload) == (topic, b'a,b\r\n"c"')
    sent = tx(modem)
    assert any(d.startswith(b'AT+MQTTUSERCFG=0,1,"id\\,1","user\\,with\\\\comma",""') for d in sent)
    assert b"AT+MQTTLONGPASSWORD=0,100\r" in sent
    assert all(password.encode() not in d for _, _, d in modem.transcript())


def test_limits_are_refused_before_writing(modem: Modem, vm: VirtualModem) -> None:
    with connected(modem, vm) as c:
        before = len(tx(modem))
        with pytest.raises(ValueError, match="at most 255 bytes"):
            # 128 bytes of topic, each comma escaped: the line passes 255 bytes
            c.subscribe("," * 128, qos=0)
        for i in range(10):
            c.subscribe(f"esp/limit/{i}", qos=0)
        mid = len(tx(modem))
        with pytest.raises(ValueError, match="at most 10 subscriptions"):
            c.subscribe("esp/limit/10", qos=0)
        assert len(tx(modem)) == mid and mid == before + 10


def test_long_messages_arrive_in_parts(modem: Modem, vm: VirtualModem) -> None:
    with connected(modem, vm) as c:
        topic = f"esp/long/{uuid.uuid4().hex[:6]}"
        c.subscribe(topic, qos=1)
        payload = bytes(range(256)) * 8
        with Paho(vm.broker_url) as peer:
            peer.publish(topic, payload, qos=1)
            parts = [c.wait_message(topic, timeout=10).payload]
            while sum(map(len, parts)) < len(payload):
                parts.append(c.wait_message(topic, timeout=10).payload)
        assert len(parts) == 3 and b"".join(parts) == payload


@pytest.mark.parametrize(("cause", "line"), [(1, b"+MQTTDISCONNECTED:0"), (2, b"WIFI DISCONNECT")])
def test_link_and_wifi_loss_then_reconnect(
    modem: Modem, vm: VirtualModem, cause: int, line: bytes
) -> None:
    c = connected(modem, vm, opts={"auto_reconnect": True, "reconnect_delay": (0.2, 1.0)})
    got: queue.Queue[int] = queue.Queue()
    c.on_disconnect = got.put
    topic = f"esp/loss/{uuid.uuid4().hex[:6]}"
    c.subscribe(topic, qos=1)
    sub = f'AT+MQTTSUB=0,"{topic}",1'.encode()
    vm.drop_link(0, cause)
    assert got.get(timeout=10) == cause
    # the worker's resubscribe is on the line: a publish now comes after its answer
    wait_until(lambda: sum(d.startswith(sub) for d in tx(modem)) == 2, timeout=15)
    # reconnected after AT+MQTTCLEAN=0 and a new configuration, and resubscribed
    c.publish(topic, b"back", qos=1)
    assert c.wait_message(topic, timeout=10).payload == b"back"
    assert any(line in d for _, k, d in modem.transcript() if k == "rx")
    c.close()


def test_text_publish_answers_ok_alone(modem: Modem, vm: VirtualModem) -> None:
    """AT+MQTTPUB (text) answers OK and nothing more (CMD); only AT+MQTTPUBRAW is followed
    by +MQTTPUB:OK, which the client waits for."""
    topic = f"esp/text-{uuid.uuid4().hex[:6]}"
    with connected(modem, vm) as c, Paho(vm.broker_url) as peer:
        peer.subscribe(topic, qos=1)
        r = modem.command(f'AT+MQTTPUB=0,"{topic}","hello",1,0', timeout=10)
        assert (r.final, r.lines) == ("OK", [])
        assert peer.get(timeout=10).payload == b"hello"
        # The PUBACK has come (the peer got the message); a raw publish now gets its result.
        c.publish(topic, b"raw", qos=1)
        assert peer.get(timeout=10).payload == b"raw"
    rx = b"".join(d for _, k, d in modem.transcript() if k == "rx")
    assert rx.count(b"+MQTTPUB:OK") == 1, rx

"""A hardware-in-the-loop suite with the modemqtt pytest plugin (no import needed).

On virtual modems (no options)::

    pytest examples/pytest_hil

On a lab modem (or several, one per xdist worker)::

    pytest examples/pytest_hil --modem-port=/dev/ttyUSB2 --mqtt-broker=mqtt://10.0.0.5:1883
    pytest examples/pytest_hil -n 2 --modem-port=@lab-modems.txt --mqtt-broker=mqtt://...

On failure, the modem's wire transcript (passwords masked) is in the report.
"""

from __future__ import annotations

import uuid

import modemqtt
import pytest


def test_modem_is_registered(modem: modemqtt.Modem) -> None:
    assert modem.wait_registered(timeout=60) in ("home", "roaming")
    assert modem.signal_quality().rssi_dbm is not None


def test_publish_comes_back(mqtt_client: modemqtt.MqttClient) -> None:
    topic = f"hil/{uuid.uuid4().hex[:8]}"
    mqtt_client.subscribe(topic, qos=1)
    mqtt_client.publish(topic, b"\x00binary\r\nOK\r\n", qos=1)
    msg = mqtt_client.wait_message(topic, timeout=30)
    assert msg.payload == b"\x00binary\r\nOK\r\n"


@pytest.mark.modem(clients=2)
def test_two_clients_at_once(modem: modemqtt.Modem, mqtt_broker: str) -> None:
    from urllib.parse import urlsplit

    broker = urlsplit(mqtt_broker)
    topic = f"hil/{uuid.uuid4().hex[:8]}"
    with modem.mqtt("hil-a", 0) as a, modem.mqtt("hil-b", 1) as b:
        a.connect(broker.hostname, broker.port)
        b.connect(broker.hostname, broker.port)
        b.subscribe(topic, qos=1)
        a.publish(topic, b"from a", qos=1)
        assert b.wait_message(topic, timeout=30).payload == b"from a"


@pytest.mark.modem(tls=True)
def test_needs_tls_capability(mqtt_client: modemqtt.MqttClient) -> None:
    assert mqtt_client.capabilities()["tls"]

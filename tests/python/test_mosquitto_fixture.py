"""The mosquitto fixture and the mosquitto_sub/pub helpers, checked with paho-mqtt alone."""

from __future__ import annotations

from support import MosquittoSub, Paho, host_port, mosquitto_pub, unique_topic


def test_broker_url_shape(mosquitto_broker: str) -> None:
    host, port = host_port(mosquitto_broker)
    assert host == "127.0.0.1"
    assert 0 < port < 65536


def test_paho_round_trip_binary(mosquitto_broker: str) -> None:
    topic = unique_topic()
    payload = bytes(range(256)) * 4 + b"\r\nOK\r\n"
    peer = Paho(mosquitto_broker)
    try:
        peer.subscribe(topic, qos=1)
        peer.client.publish(topic, payload, qos=1).wait_for_publish(10)
        msg = peer.messages.get(timeout=10)
        assert msg.topic == topic
        assert msg.payload == payload
    finally:
        peer.close()


def test_mosquitto_sub_sees_paho_publish(mosquitto_broker: str, mosquitto_clients) -> None:
    topic = unique_topic()
    payload = b"\x00\r\nOK\r\n\xff"
    with MosquittoSub(mosquitto_broker, topic, qos=1) as sub:
        sub.wait_subscribed()
        peer = Paho(mosquitto_broker)
        try:
            peer.client.publish(topic, payload, qos=1, retain=False).wait_for_publish(10)
        finally:
            peer.close()
        assert sub.messages() == [(False, 1, payload)]


def test_mosquitto_sub_reports_retain_and_empty(mosquitto_broker: str, mosquitto_clients) -> None:
    topic = unique_topic()
    mosquitto_pub(mosquitto_broker, topic, "-r", "-q", "1", "-m", "kept")
    with MosquittoSub(mosquitto_broker, topic) as sub:
        assert sub.messages() == [(True, 0, b"kept")]
    mosquitto_pub(mosquitto_broker, topic, "-r", "-n")  # clear the retained message
    with MosquittoSub(mosquitto_broker, topic, wait=1) as sub:
        assert sub.messages() == []


def test_mosquitto_pub_file_reaches_paho(
    mosquitto_broker: str, mosquitto_clients, tmp_path
) -> None:
    topic = unique_topic()
    payload = bytes(range(256)) * 2
    path = tmp_path / "payload.bin"
    path.write_bytes(payload)
    peer = Paho(mosquitto_broker)
    try:
        peer.subscribe(topic, qos=1)
        mosquitto_pub(mosquitto_broker, topic, "-q", "1", "-f", str(path))
        mosquitto_pub(mosquitto_broker, topic, "-q", "1", "-n")
        assert peer.messages.get(timeout=10).payload == payload
        assert peer.messages.get(timeout=10).payload == b""
    finally:
        peer.close()

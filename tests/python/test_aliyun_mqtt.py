"""SIMCom Alibaba-cloud firmware, MQTT side (``AT+CM*``), against the virtual modems of both
manual revisions: sim7600-aliyun (seeds/000) and sim7000-aliyun (seeds/002)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from modemqtt import (
    Modem,
    ModemError,
    MqttClient,
    MqttError,
    NotConnectedError,
    VirtualModem,
    aliyun_sign,
)
from support import run_cli, wait_until

PK = "CwlekguDcv3"
DN = "device"
DS = "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu"
TOPIC = f"/{PK}/{DN}/get"
PAYLOAD_MAX = {"sim7600-aliyun": 1024, "sim7000-aliyun": 512}
PROFILES = list(PAYLOAD_MAX)


@pytest.fixture(params=PROFILES)
def vm(request: pytest.FixtureRequest) -> Iterator[VirtualModem]:
    with VirtualModem(request.param) as v:
        yield v


@pytest.fixture
def client(modem: Modem) -> Iterator[MqttClient]:
    with modem.aliyun_mqtt(PK, DN, DS, poll_interval=0.05, auto_yield=False) as c:
        c.connect()
        yield c


def published_after(modem: Modem, before: int) -> list[bytes]:
    """AT+CMPUB lines written since transcript entry ``before`` (polls may run meanwhile)."""
    return [d for _, di, d in modem.transcript()[before:] if di == "tx" and b"CMPUB" in d]


def sent_lines(modem: Modem) -> list[str]:
    return [b.decode(errors="replace").rstrip("\r") for _, d, b in modem.transcript() if d == "tx"]


def test_detected_as_aliyun(modem: Modem, vm: VirtualModem) -> None:
    assert modem.family == "aliyun"
    assert modem.info().family == "aliyun"


def test_plain_mqtt_points_to_aliyun_mqtt(modem: Modem) -> None:
    with pytest.raises(ModemError, match="aliyun_mqtt"):
        modem.mqtt("x")


def test_round_trip_with_commas_and_colons(client: MqttClient) -> None:
    client.subscribe(TOPIC, qos=1)
    payload = "{light:open, note:a, 'quoted' value}"
    client.publish(TOPIC, payload, qos=1)
    msg = client.wait_message(TOPIC, timeout=10)
    assert msg.payload == payload.encode()
    assert msg.topic == TOPIC


def test_qos0_publish_and_unsubscribe(client: MqttClient) -> None:
    client.subscribe(TOPIC, qos=0)
    client.publish(TOPIC, "q0", qos=0)
    assert client.wait_message(timeout=10).payload == b"q0"
    client.unsubscribe(TOPIC)
    assert client.subscriptions() == []


def test_payload_limit(client: MqttClient, vm: VirtualModem, modem: Modem) -> None:
    limit = PAYLOAD_MAX[vm.profile]
    client.subscribe(TOPIC, qos=1)
    exact = ("x" * (limit - 2)) + "',"  # no '"' in AT+CMPUB (seeds/000 §3.4)
    client.publish(TOPIC, exact, qos=1)
    assert client.wait_message(timeout=10).payload == exact.encode()
    before = len(modem.transcript())
    with pytest.raises(ValueError, match=f"{limit + 1}"):
        client.publish(TOPIC, "y" * (limit + 1), qos=1)
    assert published_after(modem, before) == []
    # The modem refuses it too, for hosts that skip the check.
    with pytest.raises(Exception, match="ERROR"):
        modem.command(f'AT+CMPUB="{TOPIC}",0,"{"y" * (limit + 1)}"')


def test_1024_and_1025_on_sim7600() -> None:
    with VirtualModem("sim7600-aliyun") as v, Modem(v.port, timeout=10.0) as m:
        with m.aliyun_mqtt(PK, DN, DS, poll_interval=0.05) as c:
            c.connect()
            c.subscribe(TOPIC, qos=1)
            c.publish(TOPIC, "z" * 1024, qos=1)
            assert c.wait_message(timeout=10).payload == b"z" * 1024
            with pytest.raises(ValueError, match="1025"):
                c.publish(TOPIC, "z" * 1025)


# seeds/000 §3.4 (AT+CMPUB): the message is quoted and "中间不能带"" (no quote inside); no
# manual says how a backslash is read.
@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\x1ab", b"\xff\xfe", '{"a":1}', "a\\b"])
def test_unsendable_payloads_refused_before_sending(
    client: MqttClient, modem: Modem, bad: str | bytes
) -> None:
    before = len(modem.transcript())
    with pytest.raises(ValueError, match="payload"):
        client.publish(TOPIC, bad)
    assert published_after(modem, before) == []


def test_argument_checks(modem: Modem, vm: VirtualModem) -> None:
    with pytest.raises(ValueError, match="product_key"):
        modem.aliyun_mqtt("x" * 12, DN, DS)
    with pytest.raises(ValueError, match="device_name"):
        modem.aliyun_mqtt(PK, "d" * 33, DS)
    with pytest.raises(ValueError, match="device_secret"):
        modem.aliyun_mqtt(PK, DN, "s" * 65)
    with pytest.raises(ValueError, match="request_timeout"):
        modem.aliyun_mqtt(PK, DN, DS, request_timeout=200_000)
    if vm.profile == "sim7600-aliyun":
        with pytest.raises(ValueError, match="request_timeout"):
            modem.aliyun_mqtt(PK, DN, DS, request_timeout=20_000)
        with pytest.raises(ValueError, match="auto_yield"):
            modem.aliyun_mqtt(PK, DN, DS, auto_yield=True)
    else:
        with pytest.raises(ValueError, match="mqtt_version"):
            modem.aliyun_mqtt(PK, DN, DS, mqtt_version=3)
    with modem.aliyun_mqtt(PK, DN, DS) as c:
        with pytest.raises(ValueError, match="host"):
            c.connect("broker.example.org")
        with pytest.raises(ValueError, match="keepalive"):
            c.connect(keepalive=30)
        with pytest.raises(ValueError, match="username"):
            c.connect(username="u", password="p")
        with pytest.raises(ValueError, match="qos"):
            c.publish(TOPIC, "x", qos=2)
        with pytest.raises(ValueError, match="retain"):
            c.publish(TOPIC, "x", retain=True)
        with pytest.raises(ValueError, match="already open"):
            modem.aliyun_mqtt(PK, DN, DS)


def test_publish_before_connect_is_refused_before_sending(modem: Modem) -> None:
    with modem.aliyun_mqtt(PK, DN, DS) as c:
        before = len(modem.transcript())
        with pytest.raises(NotConnectedError):
            c.publish(TOPIC, "x")
        assert len(modem.transcript()) == before


def test_state_error_from_the_modem_names_the_code(client: MqttClient, vm: VirtualModem) -> None:
    # The firmware's answer when its MQTT object is gone (e.g. after a reboot nobody saw).
    vm.refuse("AT+CMPUB", "+CME ERROR: -2")
    with pytest.raises(MqttError) as e:
        client.publish(TOPIC, "x")
    assert (e.value.code, e.value.name) == (-2, "NULL_VALUE_ERROR")


def test_wildcard_publish_is_a_topic_format_error(client: MqttClient) -> None:
    # The client's own topic check refuses wildcards before sending.
    with pytest.raises(ValueError):
        client.publish(f"/{PK}/+/x", "x")


def test_polls_never_interleave_with_user_commands(client: MqttClient, modem: Modem) -> None:
    client.subscribe(TOPIC, qos=1)
    for i in range(15):
        client.publish(TOPIC, f"m{i}", qos=i % 2)
        modem.command("AT+CSQ")
    got = {client.wait_message(timeout=10).payload for _ in range(15)}
    assert got == {f"m{i}".encode() for i in range(15)}
    entries = modem.transcript()
    # Between two commands written, the first one's final result has been read.
    waiting = False
    polls = 0
    for _, direction, data in entries:
        if direction == "tx":
            assert not waiting, f"command sent before the previous one ended: {data!r}"
            waiting = True
            polls += data.startswith(b"AT+CMYIELD")
        elif any(f in data for f in (b"OK\r\n", b"ERROR")):
            waiting = False
    assert polls > 0


def test_messages_received_while_publishing(client: MqttClient) -> None:
    client.subscribe(TOPIC, qos=1)
    received: list[bytes] = []
    done = threading.Event()

    def on_message(msg) -> None:  # noqa: ANN001
        received.append(msg.payload)
        if len(received) == 20:
            done.set()

    client.on_message = on_message
    for i in range(20):
        client.publish(TOPIC, f"p{i}", qos=1)
    assert done.wait(15), received
    assert sorted(received) == sorted(f"p{i}".encode() for i in range(20))


def test_link_loss_and_firmware_reconnect(client: MqttClient, vm: VirtualModem) -> None:
    events: list[str] = []
    client.on_disconnect = lambda cause: events.append(f"down {cause}")
    client.on_connect = lambda: events.append("up")
    client.subscribe(TOPIC, qos=1)
    vm.drop_link()
    wait_until(lambda: "down 1" in events, timeout=10, what="+CMYIELD: 1")
    wait_until(lambda: "up" in events, timeout=10, what="+CMYIELD: 2")
    # The event reaches the callback thread and the client's state on different threads.
    wait_until(client.is_connected, timeout=10, what="is_connected() after +CMYIELD: 2")
    # Subscriptions survive the firmware's reconnect.
    client.publish(TOPIC, "again", qos=1)
    assert client.wait_message(timeout=10).payload == b"again"


def test_disconnect_stops_polling(client: MqttClient, modem: Modem) -> None:
    client.disconnect()
    assert not client.is_connected()
    n = len(sent_lines(modem))
    modem.command("AT")
    modem.command("AT")
    lines = sent_lines(modem)[n:]
    assert lines == ["AT", "AT"]


def test_autoyield_on_sim7000() -> None:
    with VirtualModem("sim7000-aliyun") as v, Modem(v.port, timeout=10.0) as m:
        with m.aliyun_mqtt(PK, DN, DS) as c:
            c.connect()
            assert "AT+CMAUTOYIELD=1,100" in sent_lines(m)
            c.subscribe(TOPIC, qos=1)
            n = len(sent_lines(m))
            # Someone else publishes: it arrives without any host poll.
            m.command(f'AT+CMPUB="{TOPIC}",0,"auto"')
            assert c.wait_message(timeout=10).payload == b"auto"
            assert all(not s.startswith("AT+CMYIELD") for s in sent_lines(m)[n:])
            assert c.is_connected()
            v.drop_link()
            assert not c.is_connected()  # AT+CMSTATUS? says so at once
        # Closing stops the automatic yield.
        assert "AT+CMAUTOYIELD=0" in sent_lines(m)


def test_sign_helper_matches_known_answer() -> None:
    cid, user, pw = aliyun_sign("pk", "device", "secret", client_id="12345", timestamp="789")
    assert cid == "12345|securemode=3,signmethod=hmacsha1,timestamp=789|"
    assert user == "device&pk"
    assert pw == "fafd82a3d602b37fb0fa8b7892f24a477f851a14"
    import hashlib
    import hmac

    content = f"clientId{PK}.{DN}deviceName{DN}productKey{PK}timestamp42"
    expected = hmac.new(DS.encode(), content.encode(), hashlib.sha256).hexdigest()
    assert aliyun_sign(PK, DN, DS, timestamp="42", method="hmacsha256")[2] == expected
    with pytest.raises(ValueError, match="method"):
        aliyun_sign(PK, DN, DS, method="md5")


def test_secret_never_in_transcript(client: MqttClient, modem: Modem) -> None:
    text = b"".join(d for _, _, d in modem.transcript())
    assert DS.encode() not in text
    assert b"AT+CMAUTH" in text


@pytest.mark.parametrize("profile", PROFILES)
def test_cli_demo_on_aliyun_profiles(profile: str) -> None:
    import json

    done = run_cli("demo", "--json", "--profile", profile)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["modem"]["family"] == "aliyun"
    assert doc["topic"] == "/a1DemoPk001/modemqtt-demo/update"

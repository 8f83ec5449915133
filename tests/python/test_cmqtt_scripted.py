"""The CMQTT client against a ScriptedModem playing an A7600, without the virtual modem.

Received-message streams come from the shared fixtures in tests/data/cmqtt/ (the same bytes
the Rust decoder tests use), so the Python client and the Rust codec agree on one truth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from modemqtt import Modem, MqttClient
from scripted_modem import OK, PROMPT, ScriptedModem

DATA = Path(__file__).resolve().parents[1] / "data" / "cmqtt"


def fixture_stream(name: str) -> bytes:
    """The modem output of a tests/data fixture (everything after the ``#---`` line)."""
    raw = (DATA / name).read_bytes()
    if raw.startswith(b"#---\n"):
        return raw[len(b"#---\n") :]
    _, sep, body = raw.partition(b"\n#---\n")
    assert sep, f"{name}: no #--- separator"
    return body


RX_PART = re.compile(rb"\+CMQTTRX(TOPIC|PAYLOAD|END): (\d+)(?:,(\d+))?\r\n")


def parse_rx_block(stream: bytes) -> tuple[int, str, bytes]:
    """(client index, topic, payload) of the first receive block, framed by the lengths."""
    pos, topic, payload, index = 0, b"", b"", -1
    while True:
        m = RX_PART.search(stream, pos)
        assert m, "no +CMQTTRXEND"
        index = int(m.group(2))
        if m.group(1) == b"END":
            return index, topic.decode("utf-8"), payload
        n = int(m.group(3))
        part = stream[m.end() : m.end() + n]
        assert len(part) == n
        if m.group(1) == b"TOPIC":
            topic += part
        else:
            payload += part
        pos = m.end() + n


def a7600(sm: ScriptedModem) -> ScriptedModem:
    """Script the CMQTT commands the way the A7600 manual's examples answer them."""
    sm.on(r"AT\+CGMI", b"\r\nSIMCOM INCORPORATED\r\n" + OK)
    sm.on(r"AT\+CGMM", b"\r\nA7600E-H\r\n" + OK)
    sm.on(r"AT\+CSQ", b"\r\n+CSQ: 23,0\r\n" + OK)
    sm.on(r"AT\+CMQTTSTART", OK + b"\r\n+CMQTTSTART: 0\r\n")
    sm.on(r"AT\+CMQTTSTOP", OK + b"\r\n+CMQTTSTOP: 0\r\n")
    sm.on(r"AT\+CMQTTCONNECT=(\d),.*", lambda m: OK + f"\r\n+CMQTTCONNECT: {m[1]},0\r\n".encode())
    sm.on(r"AT\+CMQTTDISC=(\d).*", lambda m: OK + f"\r\n+CMQTTDISC: {m[1]},0\r\n".encode())
    for cmd in ("CMQTTWILLTOPIC", "CMQTTWILLMSG", "CMQTTTOPIC", "CMQTTPAYLOAD", "CMQTTSUBTOPIC"):
        sm.on(rf"AT\+{cmd}=(\d),(\d+)(,\d)?", PROMPT, data=lambda m: int(m[2]))
    sm.on(
        r"AT\+CMQTTSUB=(\d),(\d+),(\d)(,\d)?",
        PROMPT,
        data=lambda m: int(m[2]),
        after_data=lambda m: OK + f"\r\n+CMQTTSUB: {m[1]},0\r\n".encode(),
    )
    sm.on(r"AT\+CMQTTSUB=(\d)(,\d)?", lambda m: OK + f"\r\n+CMQTTSUB: {m[1]},0\r\n".encode())
    sm.on(r"AT\+CMQTTPUB=(\d),.*", lambda m: OK + f"\r\n+CMQTTPUB: {m[1]},0\r\n".encode())
    return sm


@pytest.fixture
def modem(scripted_modem: ScriptedModem) -> Iterator[Modem]:
    a7600(scripted_modem)
    with Modem(scripted_modem.path, timeout=5.0, family="cmqtt") as m:
        yield m


def subscribed(modem: Modem, index: int) -> MqttClient:
    client = modem.mqtt(f"scripted-{index}", index)
    client.connect("127.0.0.1", 1883)
    client.subscribe("#", qos=1)
    return client


@pytest.mark.parametrize(
    "fixture", ["a7600_rx_multipart.txt", "a7600_rx_payload_ok.txt", "a7600_ch3_1.txt"]
)
def test_fixture_streams_parse(fixture: str) -> None:
    index, topic, payload = parse_rx_block(fixture_stream(fixture))
    assert index in (0, 1)
    assert topic
    assert payload


def test_multipart_receive_block(scripted_modem: ScriptedModem, modem: Modem) -> None:
    stream = fixture_stream("a7600_rx_multipart.txt")
    index, topic, payload = parse_rx_block(stream)
    with subscribed(modem, index) as client:
        scripted_modem.send(stream)
        msg = client.wait_message(timeout=10)
    assert (msg.topic, msg.payload, msg.client_index) == (topic, payload, index)
    assert (msg.qos, msg.retain) == (None, None)


def test_payload_that_looks_like_results(scripted_modem: ScriptedModem, modem: Modem) -> None:
    stream = fixture_stream("a7600_rx_payload_ok.txt")
    index, topic, payload = parse_rx_block(stream)
    assert b"\r\nOK\r\n" in payload and b"+CMQTTRXEND" in payload
    with subscribed(modem, index) as client:
        scripted_modem.send(stream)
        msg = client.wait_message(timeout=10)
        assert (msg.topic, msg.payload) == (topic, payload)
        # the stray OK after the block does not confuse the next command
        assert modem.command("AT+CSQ").lines == ["+CSQ: 23,0"]


def test_publish_sends_topic_and_payload_raw(scripted_modem: ScriptedModem, modem: Modem) -> None:
    payload = b"\x00\r\nOK\r\n\x1a>" + bytes(range(256))
    topic = 'lab/"42"/temp'
    with subscribed(modem, 0) as client:
        before = len(scripted_modem.data_blocks)
        client.publish(topic, payload, qos=1, retain=True)
        blocks = scripted_modem.data_blocks[before:]
    assert topic.encode() in blocks
    assert payload in blocks
    pub = [c for c in scripted_modem.commands if c.startswith("AT+CMQTTPUB=")]
    assert pub and re.fullmatch(r"AT\+CMQTTPUB=0,1,\d+,1(,0)?", pub[-1]), pub


def test_connect_sends_will_and_masks_password(scripted_modem: ScriptedModem, modem: Modem):
    from modemqtt import Will

    client = modem.mqtt("dev-1")
    try:
        client.connect(
            "broker.example.org",
            1884,
            keepalive=120,
            username="lab",
            password="s3cret-pw",
            will=Will("lab/dev-1/status", b"offline", qos=1),
        )
    finally:
        client.close()
    connect = [c for c in scripted_modem.commands if c.startswith("AT+CMQTTCONNECT=")]
    assert connect, scripted_modem.commands
    assert connect[-1].startswith('AT+CMQTTCONNECT=0,"tcp://broker.example.org:1884",120,1')
    assert b"lab/dev-1/status" in scripted_modem.data_blocks
    assert b"offline" in scripted_modem.data_blocks
    assert "s3cret-pw" not in modem.transcript_text()

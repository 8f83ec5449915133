"""Payload integrity on every family: payloads built from the modems' own framing (CR, LF,
``OK``, ``ERROR``, the receive URCs of all three families, quotes, NUL, 0xFF, Ctrl-Z) at the
lengths where framing breaks (1, 2, each part-size boundary +-1, the maximum -1 and the
maximum) arrive byte-exact in both directions: published by the client and seen by a paho
subscriber, published by paho and received by the client. Alibaba firmware carries UTF-8
text without CR/LF only: those payloads are refused with ValueError before a byte is written.
SIMCom SM* firmware sends any byte but receives in one unframed line: inbound payloads are
the same tokens without CR/LF, and a received payload holding a line break is not delivered
changed (it cannot be framed: docs/sm.md).

One virtual modem per family for the whole module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from families import FAMILIES, PROFILES, Family, tx_bytes
from modemqtt import Modem, MqttClient, VirtualModem
from support import Paho

BINARY_TOKENS = [
    b"\r",
    b"\n",
    b"OK\r\n",
    b"\r\nERROR\r\n",
    b"+CMQTTRXEND: 0\r\n",
    b'+QMTRECV: 0,1,"t",3,"x"\r\n',
    b'+CMYIELD: 12,"t","x"\r\n',
    b'"',
    b"\x00",
    b"\xff",
    b"\r\n> ",
    b"\x1a",
    b"+CMQTTRXPAYLOAD: 0,5\r\n",
]
# What Alibaba firmware can carry: the same lookalikes as text, without CR/LF (and without
# ';', refused inside quoted AT parameters, see docs/troubleshooting.md).
TEXT_TOKENS = [
    "OK",
    "ERROR",
    "+CMQTTRXEND: 0",
    '+QMTRECV: 0,1,"t",3,"x"',
    '+CMYIELD: 12,"t","x"',
    '"',
    "\\",
    '\\"',
    ",",
    " ",
    "> ",
]
# What AT+CMPUB can carry out: no '"' inside the quoted message (seeds/000 §3.4, "中间不能带"")
# and no backslash (no manual says how one is read). Inbound, the firmware prints payloads raw.
TEXT_OUT_TOKENS = [t for t in TEXT_TOKENS if '"' not in t and "\\" not in t] + [
    "+CMYIELD: 12,t,x",
    "+QMTRECV: 0,1,t,3,x",
]


# What a one-line receive URC can carry (SIMCom SM*): the binary tokens without CR/LF.
LINE_TOKENS = [t.replace(b"\r", b"").replace(b"\n", b"") for t in BINARY_TOKENS]
LINE_TOKENS = [t for t in LINE_TOKENS if t]


def pattern(fam: Family, n: int, outbound: bool = False) -> bytes:
    """``n`` bytes of the family's nasty tokens, starting at a different token for each n."""
    text = TEXT_OUT_TOKENS if outbound else TEXT_TOKENS
    if fam.binary or (fam.line and outbound):
        tokens = BINARY_TOKENS
    elif fam.line:
        tokens = LINE_TOKENS
    else:
        tokens = [t.encode() for t in text]
    out = b""
    i = n % len(tokens)
    while len(out) < n:
        out += tokens[i % len(tokens)]
        i += 1
    return out[:n]


def lengths(fam: Family) -> list[int]:
    marks = [fam.part, 2 * fam.part] if fam.part else [256, 1024]
    out = {1, 2, fam.payload_max - 1, fam.payload_max}
    for m in marks:
        out |= {m - 1, m, m + 1}
    return sorted(n for n in out if 1 <= n <= fam.payload_max)


@pytest.fixture(scope="module", params=PROFILES)
def fam(request: pytest.FixtureRequest) -> Family:
    return FAMILIES[str(request.param)]


@pytest.fixture(scope="module")
def vm(fam: Family) -> Iterator[VirtualModem]:
    with VirtualModem(fam.profile) as v:
        yield v


@pytest.fixture(scope="module")
def modem(vm: VirtualModem) -> Iterator[Modem]:
    with Modem(vm.port, timeout=10.0) as m:
        yield m


@pytest.fixture(scope="module")
def client(fam: Family, modem: Modem, vm: VirtualModem) -> Iterator[MqttClient]:
    with fam.connected(modem, vm, queue_size=100) as c:
        yield c


def test_lengths_cover_the_boundaries(fam: Family) -> None:
    got = lengths(fam)
    assert got[0] == 1 and got[-1] == fam.payload_max
    if fam.part:
        assert {fam.part - 1, fam.part, fam.part + 1} <= set(got)


def test_client_to_paho_byte_exact(fam: Family, vm: VirtualModem, client: MqttClient) -> None:
    topic = fam.topic("out")
    with Paho(vm.broker_url) as peer:
        peer.subscribe(topic, qos=1)
        for n in lengths(fam):
            payload = pattern(fam, n, outbound=True)
            client.publish(topic, payload, qos=1)
            got = peer.get(timeout=20).payload
            assert got == payload, f"{fam.profile}: {n}-byte payload changed on the way out"


def test_paho_to_client_byte_exact(fam: Family, vm: VirtualModem, client: MqttClient) -> None:
    topic = fam.topic("in")
    client.subscribe(topic, qos=1)
    try:
        with Paho(vm.broker_url) as peer:
            for n in lengths(fam):
                payload = pattern(fam, n)
                peer.publish(topic, payload, qos=1)
                got = fam.receive(client, topic, n)
                assert got == payload, f"{fam.profile}: {n}-byte payload changed"
    finally:
        client.unsubscribe(topic)


def test_client_to_itself_bytewise_output(
    fam: Family, vm: VirtualModem, client: MqttClient
) -> None:
    """The modem's output arriving one byte at a time changes nothing."""
    topic = fam.topic("self")
    client.subscribe(topic, qos=1)
    vm.set_chunk_size(1)
    try:
        for n in (1, 2, 300):
            # Out and back in: what the family carries both ways.
            payload = pattern(fam, n, outbound=not fam.line)
            client.publish(topic, payload, qos=1)
            assert client.wait_message(topic, timeout=30).payload == payload
    finally:
        vm.set_chunk_size(None)
        client.unsubscribe(topic)


UNSENDABLE_ON_ALIYUN = [
    ("cr", b"a\rb"),
    ("lf", b"a\nb"),
    ("crlf-ok", b"\r\nOK\r\n"),
    ("nul", b"a\x00b"),
    ("ff", b"a\xffb"),
    ("ctrl-z", b"a\x1ab"),
    ("semicolon", b'a;+CFUN=0;"'),
]


@pytest.mark.parametrize(
    "payload", [p for _, p in UNSENDABLE_ON_ALIYUN], ids=[i for i, _ in UNSENDABLE_ON_ALIYUN]
)
def test_payloads_alibaba_cannot_carry(
    fam: Family, modem: Modem, vm: VirtualModem, client: MqttClient, payload: bytes
) -> None:
    """Refused before writing on Alibaba firmware; on SIMCom SM* sent byte-exact, and
    received byte-exact unless it holds a line break (then not delivered at all, never
    changed); byte-exact everywhere else."""
    topic = fam.topic("odd")
    if fam.line and (b"\r" in payload or b"\n" in payload):
        client.subscribe(topic, qos=1)
        with Paho(vm.broker_url) as peer:
            peer.subscribe(topic, qos=1)
            client.publish(topic, payload, qos=1)
            assert peer.get(timeout=20).payload == payload
            client.publish(topic, b"marker", qos=1)
            assert peer.get(timeout=20).payload == b"marker"
        # The unframable message is dropped (and logged); the next one arrives intact.
        assert client.wait_message(topic, timeout=20).payload == b"marker"
        client.unsubscribe(topic)
        return
    if fam.binary or fam.line:
        client.subscribe(topic, qos=1)
        client.publish(topic, payload, qos=1)
        assert client.wait_message(topic, timeout=20).payload == payload
        client.unsubscribe(topic)
        return
    before = tx_bytes(modem)
    with pytest.raises(ValueError, match="payload"):
        client.publish(topic, payload, qos=1)
    # Polls may run meanwhile: nothing but polls was written.
    written = tx_bytes(modem)[len(before) :]
    assert all(b"CMPUB" not in d for d in written), written


def test_over_the_maximum_refused_before_writing(
    fam: Family, modem: Modem, client: MqttClient
) -> None:
    before = tx_bytes(modem)
    with pytest.raises(ValueError, match=str(fam.payload_max)):
        client.publish(fam.topic(), pattern(fam, fam.payload_max + 1), qos=1)
    written = tx_bytes(modem)[len(before) :]
    assert all(b"PUB" not in d and b"PAYLOAD" not in d for d in written), written

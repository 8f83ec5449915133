"""Injection: values a user passes that end up on an AT command line. Client ids, usernames,
passwords, hosts, QMT and SM will topics/messages and aliauth triples, Alibaba device
triples, and topics where they are quoted (QMT, Alibaba, SM) holding '"', CR, LF, Ctrl-Z,
';' or too many bytes are refused with ValueError before a byte is written. Where a value
travels as raw bytes after a '>' prompt with its length given first (CMQTT topics and will
topics), it cannot break out: '"' and ';' (legal in MQTT topics) are carried byte-exact.
TLS file names on the modem are derived by the library, never taken from the user's paths.

One virtual modem per family for the module; each check compares what was written before
and after (Alibaba polls excepted)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from families import DN, DS, FAMILIES, PK, PROFILES, Family
from modemqtt import Modem, ModemError, MqttClient, Tls, VirtualModem, Will
from support import Paho, host_port

BAD = {
    "quote": 'a"b',
    "cr": "a\rb",
    "lf": "a\nb",
    "ctrl-z": "a\x1ab",
    "semicolon": "a;AT&F0;b",
    "too-long": "x" * 70_000,
}


class Env:
    """A virtual modem, a modem and (lazily) a connected client for one family."""

    def __init__(self, fam: Family) -> None:
        self.fam = fam
        self.vm = VirtualModem(fam.profile)
        self.modem = Modem(self.vm.port, timeout=10.0)
        self._client: MqttClient | None = None

    @property
    def client(self) -> MqttClient:
        if self._client is None:
            self._client = self.fam.connected(self.modem, self.vm)
        return self._client

    @property
    def broker(self) -> tuple[str, int]:
        return host_port(self.vm.broker_url)

    def spare_index(self) -> int:
        """A client index the shared client does not hold (closing it on one-client
        modems; it is made again when needed)."""
        if self.fam.profile in ("sim7028", "sim7080", "sara-r5", "esp32-at"):
            if self._client is not None:
                self._client.close()
                self._client = None
            return 0
        return 1

    def writes(self) -> list[bytes]:
        polls = (b"AT+CMYIELD", b"AT+CMSTATUS")
        return [d for _, di, d in self.modem.transcript() if di == "tx" and not d.startswith(polls)]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.modem.close()
        self.vm.close()


@pytest.fixture(scope="module")
def envs() -> Iterator[dict[str, Env]]:
    made: dict[str, Env] = {}
    yield made
    for e in made.values():
        e.close()


def env_for(envs: dict[str, Env], profile: str) -> Env:
    if profile not in envs:
        envs[profile] = Env(FAMILIES[profile])
    return envs[profile]


def refused(env: Env, field: str, action: Callable[[], object]) -> None:
    before = env.writes()
    with pytest.raises(ValueError, match=field):
        action()
    assert env.writes() == before, f"{field}: something was written before the ValueError"


Action = Callable[[Env, str], object]


def connect_with(env: Env, client_id: str | None = None, **kwargs: Any) -> None:
    """Create a client and connect it; the client is closed whatever happens."""
    c = env.modem.mqtt(client_id if client_id is not None else "inj", env.spare_index())
    try:
        c.connect(*env.broker, **kwargs)
    finally:
        c.close()


def connect_host(env: Env, host: str) -> None:
    c = env.modem.mqtt("h", env.spare_index())
    try:
        c.connect(host, 1883)
    finally:
        c.close()


# (field name in the error message, action, families where the field is quoted)
FIELDS: dict[str, tuple[str, Action, tuple[str, ...]]] = {
    "client_id": (
        "client_id",
        lambda e, v: connect_with(e, v),
        ("cmqtt", "qmt", "sm", "umqtt", "espat"),
    ),
    "username": (
        "username",
        lambda e, v: connect_with(e, username=v),
        ("cmqtt", "qmt", "sm", "umqtt", "espat"),
    ),
    "password": (
        "password",
        lambda e, v: connect_with(e, username="u", password=v),
        ("cmqtt", "qmt", "sm", "umqtt", "espat"),
    ),
    "host": ("host", lambda e, v: connect_host(e, v), ("cmqtt", "qmt", "sm", "umqtt", "espat")),
    "will-topic": (
        "will topic",
        lambda e, v: connect_with(e, will=Will(v, b"x")),
        ("qmt", "sm", "umqtt"),
    ),
    "will-message": ("will", lambda e, v: connect_with(e, will=Will("w", v)), ("qmt", "sm")),
    "aliauth-product-key": (
        "product",
        lambda e, v: e.modem.mqtt("a", e.spare_index(), aliauth=(v, DN, DS)),
        ("qmt",),
    ),
    "aliauth-device-secret": (
        "secret",
        lambda e, v: e.modem.mqtt("a", e.spare_index(), aliauth=(PK, DN, v)),
        ("qmt",),
    ),
    "product_key": ("product_key", lambda e, v: e.modem.aliyun_mqtt(v, DN, DS), ("aliyun",)),
    "device_name": ("device_name", lambda e, v: e.modem.aliyun_mqtt(PK, v, DS), ("aliyun",)),
    "device_secret": ("device_secret", lambda e, v: e.modem.aliyun_mqtt(PK, DN, v), ("aliyun",)),
    "coap-device-secret": (
        "device_secret",
        lambda e, v: e.modem.aliyun_coap(PK, DN, v),
        ("aliyun",),
    ),
    "publish-topic": (
        "topic",
        lambda e, v: e.client.publish(v, b"x", qos=1),
        ("qmt", "aliyun", "sm", "umqtt"),
    ),
    "subscribe-topic": (
        "topic",
        lambda e, v: e.client.subscribe(v, qos=1),
        ("qmt", "aliyun", "sm", "umqtt"),
    ),
    "subscribe-list": (
        "topic",
        lambda e, v: e.client.subscribe([("ok/first", 0), (v, 1)]),
        ("qmt", "aliyun", "sm", "umqtt"),
    ),
    "unsubscribe-topic": (
        "topic",
        lambda e, v: e.client.unsubscribe(v),
        ("qmt", "aliyun", "sm", "umqtt"),
    ),
}

CASES = [
    pytest.param(p, f, id=f"{p}-{f}")
    for p in PROFILES
    for f, (_, _, kinds) in FIELDS.items()
    if FAMILIES[p].kind in kinds
]


@pytest.mark.parametrize(("profile", "field"), CASES)
def test_bad_value_refused_before_writing(envs: dict[str, Env], profile: str, field: str) -> None:
    env = env_for(envs, profile)
    match, action, _ = FIELDS[field]
    if (field.endswith("topic") and field != "will-topic") or field == "subscribe-list":
        # Connect first: its own commands are not what is checked (not for a will: on a
        # one-client modem the connect under test closes that client, which writes).
        _ = env.client
    for name, value in BAD.items():
        try:
            refused(env, match, lambda v=value: action(env, v))
        except AssertionError as e:
            raise AssertionError(f"{field} with {name}: {e}") from None
    # Still usable afterwards.
    assert env.modem.command("AT").final == "OK"


@pytest.mark.parametrize("profile", [p for p in PROFILES if FAMILIES[p].kind == "cmqtt"])
def test_raw_topics_carry_quotes_and_semicolons(envs: dict[str, Env], profile: str) -> None:
    """CMQTT sends topics after a '>' prompt with their length first: '"' and ';' cannot
    break out of anything and reach the broker byte-exact, both ways and as a will topic."""
    env = env_for(envs, profile)
    fam = env.fam
    topic = fam.topic("raw") + '/a;b"c;AT&F0;"'
    client = env.client
    client.subscribe(topic, qos=1)
    with Paho(env.vm.broker_url) as peer:
        peer.subscribe(topic, qos=1)
        client.publish(topic, b"semi", qos=1)
        assert peer.get(timeout=15).topic == topic
        msg = client.wait_message(timeout=15)
        assert (msg.topic, msg.payload) == (topic, b"semi")
        peer.publish(topic, b"from paho", qos=1)
        msg = client.wait_message(timeout=15)
        assert (msg.topic, msg.payload) == (topic, b"from paho")
    client.unsubscribe(topic)
    raw = topic.encode()
    assert any(d == raw for _, di, d in env.modem.transcript() if di == "tx"), "not sent raw"


@pytest.mark.parametrize("profile", [p for p in PROFILES if FAMILIES[p].kind != "aliyun"])
def test_tls_file_names_are_derived(envs: dict[str, Env], profile: str, tmp_path: Path) -> None:
    env = env_for(envs, profile)
    evil = tmp_path / 'ca";+CFUN=0;".pem'
    evil.write_bytes(b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n")
    before = len(env.modem.transcript())
    c = env.modem.mqtt("tls", env.spare_index())
    try:
        c.connect(*env.broker, tls=Tls(ca_cert=evil), timeout=20)
    except ModemError:
        pass  # the virtual CMQTT modem does real TLS, the plain broker cannot answer it
    finally:
        c.close()
    sent = b"".join(d for _, di, d in env.modem.transcript()[before:] if di == "tx")
    assert b"CFUN" not in sent and evil.name.encode() not in sent
    if FAMILIES[profile].kind == "espat":
        # ESP-AT keeps one certificate set, in fixed NVS namespaces (AT+SYSMFG)
        assert set(re.findall(rb'AT\+SYSMFG=2,"([^"]*)"', sent)) == {b"mqtt_ca"}
        return
    names = set(re.findall(rb'"((?:UFS:)?[^"]*\.pem)"', sent))
    assert names and all(re.fullmatch(rb"(UFS:)?mqtt\d_cacert\.pem", n) for n in names), names


@pytest.mark.parametrize("profile", [p for p in PROFILES if FAMILIES[p].kind == "qmt"])
def test_qmt_topic_limit_is_exact(envs: dict[str, Env], profile: str) -> None:
    env = env_for(envs, profile)
    fam = env.fam
    topic = fam.topic("lim")
    longest = topic + "/" + "t" * (fam.topic_max - len(topic) - 1)
    assert len(longest) == fam.topic_max
    env.client.publish(longest, b"fits", qos=1)
    refused(env, "topic", lambda: env.client.publish(longest + "x", b"too long", qos=1))

"""Secrets never leak: MQTT passwords, Alibaba device secrets (AT+CMAUTH and QMT aliauth) and
TLS private keys are absent from Python logging at every level (loggers ``modemqtt`` and
``modemqtt.wire`` at DEBUG, and everything else reaching the root logger), from transcripts,
reprs, exception messages of failures that happen after the secret was used, and from
recorded sessions (``Modem(..., record=path)``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from families import DN, FAMILIES, PK, PROFILES, Family
from modemqtt import Modem, ModemError, ModemTimeout, MqttError, Tls, VirtualModem
from support import free_port, host_port


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        # The core passes its records on from a thread of its own: let them arrive.
        from modemqtt import _core

        _core.flush_logs()
        return "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in self.records)


@pytest.fixture
def logs() -> Iterator[Capture]:
    """Everything logged at any level, by any logger, while the test runs. Set up before the
    Modem is opened (opening one makes the core pick up the logging configuration)."""
    cap = Capture()
    root = logging.getLogger()
    saved = root.level, {n: logging.getLogger(n).level for n in ("modemqtt", "modemqtt.wire")}
    root.addHandler(cap)
    root.setLevel(logging.DEBUG)
    for name in saved[1]:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield cap
    finally:
        root.removeHandler(cap)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def secret(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Watch:
    """Where a test's secrets must not show: everything logged, and the session recording
    ``record`` (the test's Modem is ``watch.modem(port)``)."""

    logs: Capture
    record: Path

    def modem(self, port: str) -> Modem:
        """A Modem on ``port`` (10 s timeout) recording its session to ``record``."""
        return Modem(port, timeout=10.0, record=self.record)

    def assert_nowhere(self, value: str, modem: Modem, **more: object) -> None:
        """``value`` is in none of the logs, ``modem``'s transcripts, the recording and
        the texts (or reprs) of ``more``."""
        logs = self.logs
        raw = value.encode()
        assert logs.records, "nothing was logged: the capture is not working"
        assert value not in logs.text(), "secret in the logs"
        assert any(r.name.startswith("modemqtt.wire") for r in logs.records), "no wire log seen"
        assert value not in modem.transcript_text(), "secret in transcript_text()"
        assert all(raw not in d for _, _, d in modem.transcript()), "secret in transcript()"
        assert raw not in self.record.read_bytes(), "secret in the recorded session"
        for what, obj in more.items():
            text = obj if isinstance(obj, str) else repr(obj)
            assert value not in text, f"secret in {what}"
        # Sanity: the secret did not vanish because nothing was sent.
        assert "***" in modem.transcript_text()


@pytest.fixture
def watch(logs: Capture, tmp_path: Path) -> Watch:
    return Watch(logs, tmp_path / "session.jsonl")


@pytest.fixture(params=[p for p in PROFILES if FAMILIES[p].kind != "aliyun"])
def mqtt_fam(request: pytest.FixtureRequest) -> Family:
    return FAMILIES[str(request.param)]


@pytest.fixture(params=[p for p in PROFILES if FAMILIES[p].kind == "aliyun"])
def aliyun_fam(request: pytest.FixtureRequest) -> Family:
    return FAMILIES[str(request.param)]


KEY_HEAD = b"-----BEGIN PRIVATE KEY-----\n"


def fake_pem(kind: str, body: str) -> bytes:
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode()


def test_password_and_private_key(mqtt_fam: Family, watch: Watch) -> None:
    password = secret("pw")
    key_body = secret("KEYMATERIAL")
    errors: list[str] = []
    with VirtualModem(mqtt_fam.profile) as vm, watch.modem(vm.port) as m:
        host, port = host_port(vm.broker_url)
        # 1. A connect that works.
        c = mqtt_fam.client(m)
        c.connect(host, port, username="lab", password=password)
        assert c.is_connected()
        c.publish(mqtt_fam.topic(), b"x", qos=1)
        client_repr = repr(c)
        c.close()
        # 2. The broker cannot be reached: the modem's MQTT stack fails after the password
        #    went out.
        c = mqtt_fam.client(m)
        with pytest.raises(MqttError) as e1:
            c.connect(host, free_port(), username="lab", password=password, timeout=20)
        errors += [str(e1.value), repr(e1.value), repr(e1.value.args)]
        c.close()
        # 3. The modem refuses the connect command itself.
        login = {
            "cmqtt": "AT+CMQTTCONNECT",
            "qmt": "AT+QMTCONN",
            "sm": "AT+SMCONN",
            "umqtt": "AT+UMQTTC=1",
            "espat": "AT+MQTTCONN",
        }
        vm.refuse(login[mqtt_fam.kind], "ERROR")
        c = mqtt_fam.client(m)
        with pytest.raises(ModemError) as e2:
            c.connect(host, port, username="lab", password=password)
        errors += [str(e2.value), repr(e2.value), str(getattr(e2.value, "command", ""))]
        vm.refuse(None)
        c.close()
        # 4. The modem does not answer the connect in time.
        c = mqtt_fam.client(m)
        vm.set_response_delay(1.5)
        try:
            with pytest.raises(ModemTimeout) as e3:
                c.connect(host, port, username="lab", password=password, timeout=0.5)
        finally:
            vm.set_response_delay(0.0)
        errors += [str(e3.value), str(getattr(e3.value, "command", ""))]
        c.close()
        # 5. TLS with a client key: uploaded (masked); the handshake with the plain broker
        #    fails where the virtual modem speaks real TLS (CMQTT), the QMT one does not.
        tls = Tls(
            ca_cert=fake_pem("CERTIFICATE", "ca"),
            client_cert=fake_pem("CERTIFICATE", "cert"),
            client_key=fake_pem("PRIVATE KEY", key_body),
        )
        c = mqtt_fam.client(m)
        try:
            c.connect(host, port, username="lab", password=password, tls=tls, timeout=20)
        except ModemError as e4:
            errors += [str(e4), repr(e4)]
        else:
            assert mqtt_fam.kind == "qmt", "a TLS handshake with a plain broker succeeded"
        c.close()
        watch.assert_nowhere(
            password,
            m,
            client=client_repr,
            modem_repr=m,
            vm=vm,
            errors="\n".join(errors),
        )
        watch.assert_nowhere(key_body, m, tls=tls, errors="\n".join(errors))
        # The key went to the modem all the same (its upload is in the transcript, masked).
        key_upload = b"mqtt_key" if mqtt_fam.kind == "espat" else b"clientkey"
        assert any(key_upload in d for _, di, d in m.transcript() if di == "tx")


def test_qmt_aliauth_secret(watch: Watch) -> None:
    device_secret = secret("ds")
    with VirtualModem("ec20") as vm, watch.modem(vm.port) as m:
        host, port = host_port(vm.broker_url)
        c = m.mqtt("ali", aliauth=(PK, DN, device_secret))
        c.connect(host, port)
        client_repr = repr(c)
        c.close()
        c = m.mqtt("ali", aliauth=(PK, DN, device_secret))
        vm.refuse("AT+QMTCFG", "+CME ERROR: 601")
        with pytest.raises(ModemError) as err:
            c.connect(host, port)
        vm.refuse(None)
        c.close()
        watch.assert_nowhere(
            device_secret,
            m,
            client=client_repr,
            error=str(err.value) + str(getattr(err.value, "command", "")),
        )


def test_aliyun_device_secret(aliyun_fam: Family, watch: Watch) -> None:
    device_secret = secret("ds")[:64]
    with VirtualModem(aliyun_fam.profile) as vm, watch.modem(vm.port) as m:
        c = m.aliyun_mqtt(PK, DN, device_secret, poll_interval=0.05)
        c.connect()
        c.publish(aliyun_fam.topic(), "x", qos=1)
        client_repr = repr(c)
        c.close()
        # A failure after the secret went out: the modem refuses the authentication.
        vm.refuse("AT+CMAUTH", "ERROR")
        c = m.aliyun_mqtt(PK, DN, device_secret, poll_interval=0.05)
        with pytest.raises(ModemError) as e1:
            c.connect()
        vm.refuse(None)
        c.close()
        # ... and does not answer it in time.
        vm.set_response_delay(1.5)
        c = m.aliyun_mqtt(PK, DN, device_secret, poll_interval=0.05)
        try:
            with pytest.raises(ModemTimeout) as e2:
                c.connect(timeout=0.5)
        finally:
            vm.set_response_delay(0.0)
        c.close()
        errors = [str(e1.value), str(getattr(e1.value, "command", "")), str(e2.value)]
        coap = m.aliyun_coap(PK, DN, device_secret)
        coap.auth()
        coap_repr = repr(coap)
        coap.close()
        watch.assert_nowhere(
            device_secret,
            m,
            client=client_repr,
            coap=coap_repr,
            errors="\n".join(errors),
        )


# Lines a user types with a secret in them, per family, and the secret.
RAW_LINES = [
    ('AT+CMQTTCONNECT=0,"tcp://127.0.0.1:1",60,1,"bob","pw-{s}"', "pw-{s}"),
    ('AT+QMTCONN=0,"c","bob","pw-{s}"', "pw-{s}"),
    ('AT+QMTCFG="aliauth",0,"pk","dn","ds-{s}"', "ds-{s}"),
    ('AT+CMAUTH="pk","dn","ds-{s}"', "ds-{s}"),
    ('AT+CCINIT="pk","dn","ds-{s}"', "ds-{s}"),
]


@pytest.mark.parametrize("template,secret", RAW_LINES)
def test_secrets_in_raw_commands_are_masked(
    template: str, secret: str, logs: Capture, tmp_path: Path
) -> None:
    """A secret the user typed into ``modem.command`` is masked in the transcript, the
    recording, the wire log and the exception text, and in the modem's echo of it."""
    from scripted_modem import ScriptedModem

    tag = uuid.uuid4().hex[:8]
    line, secret = template.format(s=tag), secret.format(s=tag)
    rec = tmp_path / "rec.jsonl"
    with ScriptedModem(echo=False) as sm:
        # The modem refuses it, and echoes it first as a modem with echo on would.
        sm.on(r"AT\+(CMQTT|QMT|CMAUTH|CCINIT).*", lambda m: m.group(0).encode() + b"\r\nERROR\r\n")
        with Modem(sm.path, timeout=5, record=rec) as modem:
            with pytest.raises(ModemError) as err:
                modem.command(line)
            assert secret not in str(err.value)
            assert "***" in str(err.value)
            assert secret not in modem.transcript_text()
            assert secret.encode() not in b"".join(e[2] for e in modem.transcript())
        assert secret.encode() in sm.host_bytes  # it did go to the modem
    assert secret not in rec.read_text()
    assert secret not in logs.text()

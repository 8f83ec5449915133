"""The manuals' example exchanges (tests/data/<family>/*.at) against the client and the
virtual modem.

(a) ``test_client_*``: the manual's modem side answers the client (a ScriptedModem); the client,
driven through the public API, sends the manual's host lines in order (extra commands allowed,
see corpus_drive.normalize_*) and accepts every answer; received messages come out whole.
(b) ``test_virtual_modem_*``: the manual's host lines go to a VirtualModem; it answers what the
manual answers, modulo the values the file marks.

A header ``xfail-client:`` / ``xfail-vm:`` names a known departure; the test is then expected
to fail (strict), so fixing the departure means removing the line.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from corpus import Exchange, Modem, Step, load
from corpus import Modem as CorpusLine
from corpus_drive import (
    Extra,
    Pty,
    Raw,
    Replayer,
    canon_aliyun,
    canon_cmqtt,
    check_raw,
    drive_aliyun,
    drive_cmqtt,
    drive_raw,
    expected_messages_aliyun,
    expected_messages_cmqtt,
    feed_virtual_modem,
    is_bearer,
    normalize_aliyun,
    normalize_cmqtt,
    scripted,
    undocumented,
)
from scripted_modem import ERROR, OK, PROMPT, resp
from support import free_port, require_exe, run_mosquitto

MODELS = {"a7600": "A7600E-H", "sim7600": "SIMCOM_SIM7600G-H", "sim7028": "SIM7028"}


def params(family: str, direction: str) -> list[object]:
    out = []
    for ex in load(family):
        marks = [
            pytest.mark.xfail(strict=True, reason=r)
            for r in ex.header.get(f"xfail-{direction}", [])
        ]
        if ex.header.get(f"not-replayed-{direction}"):
            # Cannot be replayed in this direction (its reason in the file): no test here.
            continue
        out.append(pytest.param(ex, id=ex.path.stem, marks=marks))
    return out


CORPUS_FAMILIES = ["cmqtt", "qmt", "aliyun", "sm", "umqtt", "espat"]


def test_what_is_not_replayed_says_why() -> None:
    """Each example left out of a direction (it is then no test there) says why."""
    left_out = []
    for family in CORPUS_FAMILIES:
        for ex in load(family):
            for direction in ("client", "vm"):
                for reason in ex.header.get(f"not-replayed-{direction}", []):
                    left_out.append((ex.path.name, direction, reason))
                    assert len(reason.split()) >= 5, (ex.path.name, direction, reason)
    assert left_out, "no example is left out: drop this test and the header key"


def check_replay(rep: Replayer, family: str, raw: list) -> None:
    """What every client replay checks: the client sent all the exchange's lines in order,
    nothing the manuals leave out, and parsed each raw answer as the exchange has it."""
    assert rep.missing == [], f"never sent, in order: {rep.missing}; extras: {rep.extra_lines}"
    assert undocumented(rep.extra_lines, family) == []
    check_raw(raw)


def replay_raw_client(
    family: str,
    steps: list[Step],
    extras: list[Extra],
    drive: Callable[[object, list[Step]], list] = drive_raw,
) -> None:
    """A client replay through the raw escape hatch: ``drive(modem, steps)`` sends the
    exchange's host lines (``drive_raw`` unless told), then the replay is checked."""
    from modemqtt import Modem

    rep = Replayer(steps, lambda line: line, extras)
    with scripted(rep) as sm, Modem(sm.path, timeout=5.0, family=family) as modem:
        raw = drive(modem, steps)
    check_replay(rep, family, raw)


def replay_vm(
    ex: Exchange,
    profile: str,
    steps: list[Step] | None = None,
    tolerate: Callable[[str], bool] | None = None,
    **kw: object,
) -> None:
    """The exchange's host lines (``steps``, the whole exchange unless told) fed to a
    VirtualModem of ``profile`` (``kw`` goes to it): every answer as the exchange has it,
    but for the departures ``tolerate`` allows."""
    from modemqtt import VirtualModem

    with VirtualModem(profile, **kw) as vm:
        assert feed_virtual_modem(vm, ex, ex.steps if steps is None else steps, tolerate) == []


def cmqtt_extras(profile: str) -> list[Extra]:
    return [
        Extra(r"AT\+CGMI", resp("SIMCOM INCORPORATED")),
        Extra(r"AT\+CGMM", resp(MODELS[profile])),
        Extra(r'AT\+CCERTDOWN="[^"]+",(\d+)', PROMPT, data=lambda m: int(m[1])),
        # answers to the client's own clean-up, so that a failing test fails fast
        Extra(r"AT\+CMQTTSTART", OK + b"\r\n+CMQTTSTART: 0\r\n"),
        Extra(r"AT\+CMQTTDISC=(\d),\d+", lambda m: OK + f"\r\n+CMQTTDISC: {m[1]},0\r\n".encode()),
        Extra(r"AT\+CMQTTSTOP", OK + b"\r\n+CMQTTSTOP: 0\r\n"),
    ]


def replay_client(
    ex: Exchange,
    rep: Replayer,
    family: str,
    steps: list[Step],
    want: list[tuple[bytes, bytes]],
    drive: Callable[[object, list], list],
) -> None:
    """One client replay: ``drive(modem, received)`` calls the API (for a ``drive: raw``
    exchange the raw escape hatch sends ``steps`` instead), then the replay is checked and
    the messages received must be ``want``."""
    from modemqtt import Modem

    received: list = []
    with scripted(rep) as sm, Modem(sm.path, timeout=5.0, family=family) as modem:
        if ex.first("drive") == "raw":
            raw = drive_raw(modem, steps)
        else:
            raw = drive(modem, received)
    check_replay(rep, family, raw)
    assert [(m.topic.encode(), m.payload) for m in received] == want


@pytest.mark.parametrize("ex", params("cmqtt", "client"))
def test_client_cmqtt(ex: Exchange) -> None:
    profile = ex.first("profile", "a7600")
    omit = set(ex.header.get("omit-client", []))
    steps = normalize_cmqtt([s for s in ex.steps if s.host not in omit])
    rep = Replayer(steps, canon_cmqtt, cmqtt_extras(profile))
    want = expected_messages_cmqtt(steps)
    tls = ex.first("tls")
    replay_client(
        ex, rep, "cmqtt", steps, want, lambda m, got: drive_cmqtt(m, steps, tls, got, len(want))
    )


@dataclass(frozen=True)
class ManualTls:
    """A mosquitto with two TLS listeners whose certificate names the manuals' servers, and
    the PEM files the manuals' examples name (003 3.3-3.4, 001 4.3-4.4)."""

    server_auth: int
    mutual: int
    ca: bytes
    client_cert: bytes
    client_key: bytes


@pytest.fixture(scope="session")
def manual_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManualTls]:
    from test_cmqtt_tls import _ca, _leaf

    openssl = require_exe("openssl", "openssl not installed: apt-get install openssl")
    mosquitto = require_exe("mosquitto", "mosquitto not installed: apt-get install mosquitto")
    folder = tmp_path_factory.mktemp("manual-tls")
    ca = _ca(openssl, folder, "manual-ca")
    # (the SIMCom SM* note connects to 117.131.85.139)
    names = "DNS:test.mosquitto.org,DNS:mqtts_server,DNS:hooleeping.com,IP:117.131.85.139"
    server = _leaf(
        openssl, folder, "server", ca, f"subjectAltName={names}\nextendedKeyUsage=serverAuth\n"
    )
    client = _leaf(openssl, folder, "client", ca, "extendedKeyUsage=clientAuth\n")
    ports = (free_port(), free_port())
    tls = f"cafile {ca[1]}\ncertfile {server[1]}\nkeyfile {server[0]}\n"
    user = "user root\n" if os.geteuid() == 0 else ""
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"{user}allow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n"
        f"listener {ports[0]} 127.0.0.1\n{tls}"
        f"listener {ports[1]} 127.0.0.1\n{tls}require_certificate true\n"
    )
    with run_mosquitto(mosquitto, conf, ports):
        yield ManualTls(
            ports[0], ports[1], ca[1].read_bytes(), client[1].read_bytes(), client[0].read_bytes()
        )


def tls_setup(ex: Exchange, tls: ManualTls) -> list[Step]:
    """AT+CCERTDOWN of the files the example names: the manual has them on the module."""
    files: dict[str, bytes] = {}
    for s in ex.steps:
        m = re.fullmatch(r'AT\+CSSLCFG="(cacert|clientcert|clientkey)",\d,"([^"]+)"', s.host or "")
        if m:
            files[m[2]] = {"cacert": tls.ca, "clientcert": tls.client_cert}.get(
                m[1], tls.client_key
            )
    return [
        Step(f'AT+CCERTDOWN="{name}",{len(pem)}', pem, [Modem(b">")], [Modem(b"OK")])
        for name, pem in files.items()
    ]


@pytest.mark.parametrize("ex", params("cmqtt", "vm"))
def test_virtual_modem_cmqtt(ex: Exchange, request: pytest.FixtureRequest) -> None:
    omit = set(ex.header.get("omit-vm", []))
    steps = [s for s in ex.steps if s.host not in omit]
    broker = None
    if ex.first("tls"):
        # The example's server is redirected to a TLS listener whose certificate names it.
        tls: ManualTls = request.getfixturevalue("manual_tls")
        mutual = ex.first("tls").endswith("2")
        broker = f"mqtt://127.0.0.1:{tls.mutual if mutual else tls.server_auth}"
        steps = tls_setup(ex, tls) + steps
    # The example's host names resolve on the virtual network only because it maps them.
    replay_vm(
        ex,
        ex.first("profile", "a7600"),
        steps,
        broker=broker,
        hosts=dict.fromkeys(ex.header.get("host", [])),
    )


def aliyun_extras(profile: str) -> list[Extra]:
    v2 = profile == "sim7000-aliyun"
    return [
        Extra(r"AT\+CGMI", resp("SIMCOM INCORPORATED")),
        Extra(r"AT\+CGMM", resp("SIMCOM_SIM7000E" if v2 else "SIMCOM_SIM7600E")),
        Extra(r"AT\+CMAUTOYIELD=\?", resp("+CMAUTOYIELD: (0-60),(10-2000)") if v2 else ERROR),
        Extra(r"AT\+CMQTTACCQ=\?|AT\+QMTCFG=\?", ERROR),
    ]


@pytest.mark.parametrize("ex", params("aliyun", "client"))
def test_client_aliyun(ex: Exchange) -> None:
    profile = ex.first("profile")
    steps = normalize_aliyun(ex.steps)
    rep = Replayer(steps, canon_aliyun, aliyun_extras(profile), optional=is_bearer)
    want = expected_messages_aliyun(steps)
    replay_client(
        ex, rep, "aliyun", steps, want, lambda m, got: drive_aliyun(m, rep, got, len(want))
    )


@pytest.mark.parametrize("ex", params("aliyun", "vm"))
def test_virtual_modem_aliyun(ex: Exchange) -> None:
    # the bearer in a per-command example's set-up may be refused: the full examples (000
    # 5.1-5.2, 002 3) hold that departure, the set-up only has to reach the example's state
    replay_vm(ex, ex.first("profile"), tolerate=is_bearer if ex.first("drive") == "raw" else None)


@pytest.mark.parametrize("ex", params("qmt", "client"))
def test_client_qmt(ex: Exchange) -> None:
    replay_raw_client("qmt", ex.steps, [Extra(r"AT\+CGMI", resp("Quectel"))])


@pytest.mark.parametrize("ex", params("qmt", "vm"))
def test_virtual_modem_qmt(ex: Exchange) -> None:
    replay_vm(ex, ex.first("profile"))


@pytest.mark.parametrize("ex", params("sm", "client"))
def test_client_sm(ex: Exchange) -> None:
    """SIMCom SM* examples through the raw escape hatch (the client's own connect sequence
    is checked against them in test_sm_virtual.py): every answer parsed as the manual has
    it, every message line routed."""
    extras = [
        Extra(r"AT\+CGMI", resp("SIMCOM INCORPORATED")),
        Extra(r"AT\+CGMM", resp("SIMCOM_SIM7080")),
    ]
    omit = set(ex.header.get("omit-client", []))
    replay_raw_client("sm", [s for s in ex.steps if s.host not in omit], extras)


def sm_files(ex: Exchange, tls: ManualTls) -> list[Step]:
    """The example's steps with the files it writes (withheld in the note) replaced by the
    TLS broker's: CA, client certificate, client key, in the note's order."""
    pems = {"ca.crt": tls.ca, "myclient.crt": tls.client_cert, "myclient.key": tls.client_key}
    out = []
    for s in ex.steps:
        m = re.fullmatch(r'AT\+CFSWFILE=3,"([^"]+)",0,\d+,(\d+)', s.host or "")
        if m and m[1] in pems:
            pem = pems[m[1]]
            host = f'AT+CFSWFILE=3,"{m[1]}",0,{len(pem)},{m[2]}'
            s = Step(host, pem, s.output, s.after_data)
        out.append(s)
    return out


def discard_default_session(vm: Any) -> None:
    """Discards the broker's session of the SM module's default client id.

    With `CLIENTID` empty the virtual module logs in as `sim7080-<IMEI>` (src/sim/sm/mqtt.rs),
    the same id on every sim7080 of this process, and its session persists (`CLEANSS` 0): an
    earlier example's subscriptions, with what the shared broker queued for them since (the
    empty retained messages of the clean-up below), would resume in this example. A
    clean-session login with that id discards them (MQTT 3.1.1 §3.1.2.4)."""
    from support import Paho

    pty = Pty(vm.port)
    try:
        pty.write(b"AT+CGSN\r")
        got = pty.lines([CorpusLine(b"AT+CGSN\r"), CorpusLine(b"x"), CorpusLine(b"OK")])
    finally:
        pty.close()
    imei = next((line.decode() for line in got if line.isdigit()), None)
    assert imei is not None, f"AT+CGSN: {got!r}"
    with Paho(vm.broker_url, client_id=f"sim7080-{imei}"):
        pass


@pytest.mark.parametrize("ex", params("sm", "vm"))
def test_virtual_modem_sm(ex: Exchange, request: pytest.FixtureRequest) -> None:
    from modemqtt import VirtualModem
    from support import Paho

    hosts: dict[str, str | None] = dict.fromkeys(ex.header.get("host", []))
    steps, broker = ex.steps, None
    if ex.first("tls"):
        # The note's server is redirected to a mutual-TLS listener whose certificate names it.
        tls: ManualTls = request.getfixturevalue("manual_tls")
        broker = f"mqtt://127.0.0.1:{tls.mutual}"
        steps = sm_files(ex, tls)
    with VirtualModem(ex.first("profile"), broker=broker, hosts=hosts) as vm:
        if broker is None:
            discard_default_session(vm)
        try:
            assert feed_virtual_modem(vm, ex, steps) == []
        finally:
            # The examples publish retained messages: the next example starts without them.
            retained = [
                m[1]
                for s in ex.steps
                if (m := re.match(r'AT\+SMPUB="([^"]+)",\d+,\d,1', s.host or ""))
            ]
            if retained and broker is None:
                with Paho(vm.broker_url) as peer:
                    for topic in retained:
                        peer.publish(topic, b"", qos=1, retain=True)


@pytest.mark.parametrize("ex", params("umqtt", "client"))
def test_client_umqtt(ex: Exchange) -> None:
    replay_raw_client("umqtt", ex.steps, [Extra(r"AT\+CGMI", resp("u-blox"))])


@pytest.mark.parametrize("ex", params("umqtt", "vm"))
def test_virtual_modem_umqtt(ex: Exchange) -> None:
    # The example's host names resolve on the virtual network only because it maps them.
    replay_vm(ex, ex.first("profile"), hosts=dict.fromkeys(ex.header.get("host", [])))


ESP_GMR = resp(
    "AT version:2.2.0.0-dev(ca41ec4 - ESP32 - Sep 16 2020 11:28:17)",
    "SDK version:v4.0.1-193-ge7ac221b4",
    "compile time(98b95fc):Oct 29 2020 11:23:25",
    "Bin version:2.1.0(MINI-1)",
)


@pytest.mark.parametrize("ex", params("espat", "client"))
def test_client_espat(ex: Exchange) -> None:
    replay_raw_client(
        "espat",
        ex.steps,
        [Extra(r"AT\+CMEE=1", ERROR), Extra(r"AT\+GMR", ESP_GMR)],
        lambda modem, steps: [
            (subrecv_as_urc(step), lines) for step, lines in drive_raw_refusals(modem, steps)
        ],
    )


def subrecv_as_urc(step: Step) -> Step:
    """``+MQTTSUBRECV:0,"<topic>",<len>,<data>`` as ``on_urc`` shows a counted block
    (``<header> <len bytes>``), once its data has exactly ``len`` bytes."""

    def one(m: CorpusLine) -> CorpusLine:
        hit = re.fullmatch(rb'(\+MQTTSUBRECV:0,".*",(\d+)),(.*)', m.text, re.S)
        if not hit:
            return m
        assert len(hit[3]) == int(hit[2]), m.text
        return replace(m, text=hit[1] + b" <" + hit[2] + b" bytes>")

    return replace(
        step, output=[one(m) for m in step.output], after_data=[one(m) for m in step.after_data]
    )


def drive_raw_refusals(modem: object, steps: list[Step]) -> list:
    """``drive_raw`` for exchanges where the module refuses a command (``ERROR`` ends its
    block): that command must raise ``CommandError``; its lines are not compared."""
    from modemqtt import CommandError

    raw = Raw(modem)
    out = []
    for s in steps:
        if s.host is None:
            continue
        block = s.after_data if s.data is not None else s.output
        if any(m.text == b"ERROR" for m in block):
            with pytest.raises(CommandError):
                modem.command(s.host, data=s.data)  # type: ignore[attr-defined]
            # its URCs (+MQTTDISCONNECTED) reach on_urc on the callback thread
            urcs = [m for m in block if m.text.startswith(b"+")]
            deadline = time.monotonic() + 5.0
            while len(raw.urcs) < len(urcs) and time.monotonic() < deadline:
                time.sleep(0.01)
            raw.urcs.clear()
            continue
        out.append(raw(s))
    return out


@pytest.mark.parametrize("ex", params("espat", "vm"))
def test_virtual_modem_espat(ex: Exchange) -> None:
    replay_vm(ex, "esp32-at", hosts=dict.fromkeys(ex.header.get("host", [])))

"""SIMCom SM* (``AT+SM*``, profile sim7080): what the shared suites do not cover. The client's
connect sequence, TLS through the module's file system against a TLS mosquitto, the will,
link and bearer loss with reconnect and resubscribe, and a publish whose ``OK`` came after
the link went (the SIM7000 AWS log's exchange, played by a scripted modem)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
import test_cmqtt_tls
from modemqtt import Modem, MqttClient, MqttError, Tls, VirtualModem, Will
from scripted_modem import ERROR, OK, ScriptedModem, resp
from support import Paho, host_port, new_id, unique_topic, vm_and_modem, wait_until
from test_cmqtt_tls import Certs, TlsBroker

# The TLS suite's session fixtures: its CA, certificates and TLS mosquitto.
certs = test_cmqtt_tls.certs
tls_broker = test_cmqtt_tls.tls_broker


vm, modem = vm_and_modem("sim7080")


def tx_lines(modem: Modem) -> list[str]:
    return [
        d.decode(errors="replace").rstrip("\r") for _, di, d in modem.transcript() if di == "tx"
    ]


def test_connect_sequence_writes_every_setting(vm: VirtualModem, modem: Modem) -> None:
    host, port = host_port(vm.broker_url)
    with modem.mqtt("seq-client") as c:
        c.connect(host, port, keepalive=30, clean_session=False, username="u", password="pw")
        lines = tx_lines(modem)
        start = lines.index("AT+SMDISC")
        got = lines[start : lines.index("AT+SMCONN") + 1]
        assert got == [
            "AT+SMDISC",
            f'AT+SMCONF="URL","{host}",{port}',
            'AT+SMCONF="CLIENTID","seq-client"',
            'AT+SMCONF="KEEPTIME",30',
            # always written: the module's default is a persistent session (ATM 17.2.1)
            'AT+SMCONF="CLEANSS",0',
            'AT+SMCONF="USERNAME","u"',
            'AT+SMCONF="PASSWORD","***"',
            'AT+SMCONF="TOPIC",""',
            'AT+SMCONF="SUBHEX",0',
            "AT+SMSSL=0",
            "AT+SMCONN",
        ]
        assert modem.command("AT+SMSTATE?").lines == ["+SMSTATE: 1"]


def test_will_is_published_on_link_loss(vm: VirtualModem, modem: Modem) -> None:
    host, port = host_port(vm.broker_url)
    will_topic = unique_topic("modemqtt/sm-will")
    lost = threading.Event()
    causes: list[int] = []
    with Paho(vm.broker_url) as peer, modem.mqtt(new_id("will")) as c:
        peer.subscribe(will_topic, qos=1)
        c.on_disconnect = lambda cause: (causes.append(cause), lost.set())
        c.connect(host, port, will=Will(will_topic, b"gone", qos=1))
        vm.drop_link(0, 1)
        assert peer.get(timeout=15).payload == b"gone"
        assert lost.wait(10)
        assert causes == [1]  # +SMSTATE: 0
        assert not c.is_connected()


def test_bearer_loss_reconnects_and_resubscribes(vm: VirtualModem, modem: Modem) -> None:
    host, port = host_port(vm.broker_url)
    topic = unique_topic("modemqtt/sm-bearer")
    causes: list[int] = []
    c = modem.mqtt(new_id("bearer"), auto_reconnect=True, reconnect_delay=(0.2, 1.0))
    try:
        c.on_disconnect = causes.append
        c.connect(host, port)
        c.subscribe(topic, qos=1)
        r = modem.command("AT+CNACT=0,0")
        assert r.final == "OK"
        wait_until(lambda: causes, what="on_disconnect")
        assert causes[0] == -3  # +APP PDP: 0,DEACTIVE
        assert modem.command("AT+CNACT=0,1").final == "OK"
        wait_until(c.is_connected, timeout=20, what="the reconnect")
        with Paho(vm.broker_url) as peer:
            peer.publish(topic, b"after the bearer came back", qos=1)
            assert c.wait_message(topic, timeout=15).payload == b"after the bearer came back"
    finally:
        c.close()


def test_publish_during_link_loss_is_not_counted_sent() -> None:
    """SIM7000_AWS_Log.txt: the broker closed the link after the data; the module printed
    ``+SMSTATE: 0`` and then answered ``OK`` to ``AT+SMPUB``. The client fails the publish."""
    sm = ScriptedModem()
    sm.on(r"AT\+CMQTTACCQ=\?|AT\+QMTCFG=\?|AT\+CMAUTH=\?", ERROR)
    sm.on(r"AT\+CGMI", resp("SIMCOM INCORPORATED"))
    sm.on(r"AT\+CGMM", resp("SIMCOM_SIM7080"))
    sm.on(r"AT\+SMCONF=\?", resp('+SMCONF: "CLIENTID",(0-128)'))
    sm.on(
        r'AT\+SMPUB="ryan",8,1,1',
        b"\r\n> ",
        data=8,
        after_data=b"\r\n+SMSTATE: 0\r\n" + OK,
    )
    with sm, Modem(sm.path, timeout=5.0) as m:
        assert m.family == "sm"
        c = m.mqtt("basicPubSub")
        c.connect("broker.example.org", 8883)
        with pytest.raises(MqttError, match="does not prove delivery"):
            c.publish("ryan", b"test626\n", qos=1, retain=True)
        assert not c.is_connected()
        assert c.stats()["published"] == 0
        c.close()


@pytest.fixture(scope="module")
def tls_vm(tls_broker: TlsBroker) -> Iterator[VirtualModem]:
    url = f"mqtt://127.0.0.1:{tls_broker.server_auth}"
    with VirtualModem("sim7080", broker=url) as v:
        yield v


def test_tls_server_verification(tls_vm: VirtualModem, tls_broker: TlsBroker, certs: Certs) -> None:
    with Modem(tls_vm.port, timeout=10.0) as m:
        with m.mqtt(new_id("tls")) as c:
            c.connect("localhost", tls_broker.server_auth, tls=Tls(ca_cert=str(certs.ca)))
            topic = unique_topic("modemqtt/sm-tls")
            c.subscribe(topic, qos=1)
            c.publish(topic, b"over tls \x00", qos=1)
            assert c.wait_message(topic, timeout=10).payload == b"over tls \x00"
        lines = tx_lines(m)
        assert 'AT+CSSLCFG="CONVERT",2,"mqtt0_cacert.pem"' in lines
        assert 'AT+SMSSL=1,"mqtt0_cacert.pem",""' in lines
        assert any(re.fullmatch(r'AT\+CFSWFILE=3,"mqtt0_cacert.pem",0,\d+,10000', x) for x in lines)
        # A server certificate another CA signed: the handshake fails, a bare ERROR.
        with m.mqtt(new_id("tls")) as c, pytest.raises(MqttError):
            c.connect("localhost", tls_broker.server_auth, tls=Tls(ca_cert=str(certs.other_ca)))


def test_tls_mutual_masks_the_key(tls_broker: TlsBroker, certs: Certs) -> None:
    url = f"mqtt://127.0.0.1:{tls_broker.mutual}"
    tls = Tls(ca_cert=certs.ca, client_cert=certs.client_cert, client_key=certs.client_key)
    with VirtualModem("sim7080", broker=url) as v, Modem(v.port, timeout=10.0) as m:
        with m.mqtt(new_id("mtls")) as c:
            c.connect("localhost", tls_broker.mutual, tls=tls)
            assert c.is_connected()
        wire = m.transcript_text()
        body = [x for x in certs.client_key.read_text().splitlines() if not x.startswith("-----")]
        assert body and all(x not in wire for x in body)


def test_tls_without_a_ca_is_refused_before_writing(modem: Modem) -> None:
    c: MqttClient = modem.mqtt(new_id("noca"))
    before = len(modem.transcript())
    with pytest.raises(ValueError, match="ca_cert"):
        c.connect("broker.example.org", 8883, tls=Tls())
    assert not [d for _, di, d in modem.transcript()[before:] if di == "tx"]
    c.close()

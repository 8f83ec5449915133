"""u-blox AT+UMQTT / AT+UMQTTC end to end: what is the family's own (the PSD profile the
login needs, pings only after AT+UMQTTC=8,1, the stored-message reads, AT+USECMNG's MD5,
the refusals). The behaviour all families share runs on sara-r5 through families.py."""

from __future__ import annotations

import hashlib
import queue
import time

import pytest
from modemqtt import CommandError, Modem, MqttError, VirtualModem
from support import Paho, host_port, new_id, unique_topic, vm_and_modem, wait_until

vm, modem = vm_and_modem("sara-r5")


class Urcs:
    """The unsolicited lines a modem reports, waited for by prefix."""

    def __init__(self, modem: Modem) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        modem.on_urc(self.q.put)

    def wait(self, prefix: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {prefix!r}"
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith(prefix):
                return line


def login(modem: Modem, vm: VirtualModem, urcs: Urcs, keepalive: int) -> None:
    host, port = host_port(vm.broker_url)
    modem.command("AT+UPSD=0,100,1")
    modem.command("AT+UPSDA=0,3")
    assert urcs.wait("+UUPSDA:").startswith("+UUPSDA: 0,")
    modem.command(f'AT+UMQTT=0,"{new_id("ubx")}"')
    modem.command(f'AT+UMQTT=2,"{host}",{port}')
    modem.command(f"AT+UMQTT=10,{keepalive}")
    modem.command("AT+UMQTTC=1")
    assert urcs.wait("+UUMQTTC: 1,") == "+UUMQTTC: 1,1"


def test_the_family_is_detected_and_identifies_itself(modem: Modem) -> None:
    info = modem.info()
    assert (info.family, info.manufacturer, info.model) == ("umqtt", "u-blox", "SARA-R510M8S")


def test_login_needs_the_psd_profile(vm: VirtualModem, modem: Modem) -> None:
    host, port = host_port(vm.broker_url)
    modem.command("AT+CMEE=2")
    modem.command(f'AT+UMQTT=2,"{host}",{port}')
    modem.command('AT+UMQTT=0,"no-psd"')
    with pytest.raises(CommandError, match="operation not allowed"):
        modem.command("AT+UMQTTC=1")
    # SARA-R5 keeps no session: the clean-session setter is refused.
    with pytest.raises(CommandError, match="operation not supported"):
        modem.command("AT+UMQTT=12,0")


def test_no_pings_until_switched_on(vm: VirtualModem, modem: Modem) -> None:
    """The broker drops a login whose pings were never switched on (1.5 x keep-alive)."""
    urcs = Urcs(modem)
    login(modem, vm, urcs, keepalive=1)
    assert urcs.wait("+UUMQTTC: 0,") == "+UUMQTTC: 0,101"


def test_the_client_switches_pings_on(vm: VirtualModem, modem: Modem) -> None:
    lost: queue.Queue[int] = queue.Queue()
    with modem.mqtt(new_id("ka")) as c:
        c.on_disconnect = lost.put
        c.connect(*host_port(vm.broker_url), keepalive=1)
        time.sleep(4)  # well past 1.5 x the keep-alive: a login without pings is gone
        assert lost.empty()
        topic = unique_topic()
        c.subscribe(topic, qos=1)
        c.publish(topic, b"still here", qos=1)
        assert c.wait_message(topic, timeout=15).payload == b"still here"
    sent = [d for _, k, d in modem.transcript() if k == "tx"]
    assert b"AT+UMQTTC=8,1\r" in sent


def test_stored_messages_are_read_one_by_one(vm: VirtualModem, modem: Modem) -> None:
    urcs = Urcs(modem)
    login(modem, vm, urcs, keepalive=60)
    topic = unique_topic()
    modem.command(f'AT+UMQTTC=4,1,"{topic}"')
    assert urcs.wait("+UUMQTTC: 4,") == f'+UUMQTTC: 4,1,1,"{topic}"'
    with Paho(vm.broker_url) as peer:
        peer.publish(topic, b"a\r\nb", qos=1)
        peer.publish(topic, b"second", qos=0)
    assert urcs.wait("+UUMQTTC: 6,") == "+UUMQTTC: 6,1"
    assert urcs.wait("+UUMQTTC: 6,") == "+UUMQTTC: 6,2"
    first = modem.command("AT+UMQTTC=6,1")
    assert first.lines[0].startswith(f'+UMQTTC: 6,1,{len(topic) + 4},{len(topic)},"{topic}",4,"a')
    assert urcs.wait("+UUMQTTC: 6,") == "+UUMQTTC: 6,1"
    second = modem.command("AT+UMQTTC=6,1")
    assert second.lines == [f'+UMQTTC: 6,0,{len(topic) + 6},{len(topic)},"{topic}",6,"second"']
    # Nothing left: a bare OK (field SparkFun#48).
    assert modem.command("AT+UMQTTC=6,1").lines == []


def test_a_slow_consumer_leaves_messages_in_the_module(vm: VirtualModem, modem: Modem) -> None:
    topic = unique_topic()
    with modem.mqtt(new_id("slow"), queue_size=2) as c:
        c.connect(*host_port(vm.broker_url))
        c.subscribe(topic, qos=1)
        with Paho(vm.broker_url) as peer:
            for n in range(10):
                peer.publish(topic, f"m{n}".encode(), qos=1)
        got = [c.wait_message(topic, timeout=20).payload for _ in range(10)]
        assert got == [f"m{n}".encode() for n in range(10)]
        assert c.stats()["dropped"] == 0


def test_usecmng_answers_the_md5_the_client_checks(modem: Modem) -> None:
    data = b"-----BEGIN CERTIFICATE-----\nMIIBx\n-----END CERTIFICATE-----\n"
    r = modem.command(f'AT+USECMNG=0,0,"ca.pem",{len(data)}', data=data)
    assert r.lines == [f'+USECMNG: 0,0,"ca.pem","{hashlib.md5(data).hexdigest()}"']


def test_link_loss_reports_the_cause_and_reconnects(vm: VirtualModem, modem: Modem) -> None:
    causes: queue.Queue[int] = queue.Queue()
    topic = unique_topic()
    with modem.mqtt(new_id("loss"), auto_reconnect=True, reconnect_delay=(0.1, 1.0)) as c:
        c.on_disconnect = causes.put
        c.connect(*host_port(vm.broker_url))
        c.subscribe(topic, qos=1)
        vm.drop_link(0, 102)
        assert causes.get(timeout=15) == 102
        wait_until(c.is_connected, timeout=30, what="the reconnect")
        c.publish(topic, b"after", qos=1)
        assert c.wait_message(topic, timeout=15).payload == b"after"


def test_a_refused_login_reads_the_module_error(vm: VirtualModem, modem: Modem) -> None:
    with modem.mqtt(new_id("dns")) as c, pytest.raises(MqttError) as e:
        c.connect("no-such-host.invalid", 1883, timeout=20)
    assert e.value.operation == "connect"
    assert "+UMQTTER: 13," in str(e.value)


def test_an_empty_payload_goes_only_retained(vm: VirtualModem, modem: Modem) -> None:
    topic = unique_topic()
    with modem.mqtt(new_id("empty")) as c, Paho(vm.broker_url) as peer:
        c.connect(*host_port(vm.broker_url))
        peer.subscribe(topic, qos=1)
        before = len(modem.transcript())
        with pytest.raises(ValueError, match="payload: an empty payload can only be published"):
            c.publish(topic, b"", qos=1)
        assert len(modem.transcript()) == before, "something was written before the ValueError"
        c.publish(topic, b"", qos=1, retain=True)
        assert peer.get(timeout=15).payload == b""
    sent = [d for _, k, d in modem.transcript() if k == "tx"]
    assert f'AT+UMQTTC=2,1,1,0,"{topic}",""\r'.encode() in sent

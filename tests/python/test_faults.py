"""Faults on every family, as a user sees them: the MQTT link dropped with each cause code, the
modem rebooting mid-session, the port unplugged and plugged back (pty: a new Modem on the same
virtual modem; TCP: the connection taken over), a response arriving after its command's
deadline, and a modem that stops answering. Each shows up as a typed event or exception,
automatic reconnect + resubscribe happen where enabled, and the next operation works."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import pytest
from families import CAUSE_PORT_LOST, CAUSE_RESTARTED, FAMILIES, PROFILES, Family
from modemqtt import (
    CommandError,
    Modem,
    ModemError,
    ModemTimeout,
    MqttClient,
    PortError,
    VirtualModem,
)
from support import Paho, wait_until


@pytest.fixture(params=PROFILES)
def fam(request: pytest.FixtureRequest) -> Family:
    return FAMILIES[str(request.param)]


@pytest.fixture
def vm(fam: Family) -> Iterator[VirtualModem]:
    with VirtualModem(fam.profile) as v:
        yield v


def reconnecting(fam: Family, modem: Modem, vm: VirtualModem) -> MqttClient:
    """A connected client that comes back by itself after a loss (the Alibaba firmware
    reconnects on its own; the other families through auto_reconnect)."""
    if fam.aliyun:
        return fam.connected(modem, vm)
    return fam.connected(modem, vm, auto_reconnect=True, reconnect_delay=(0.1, 1.0))


def round_trip(client: MqttClient, topic: str, payload: bytes, timeout: float = 20.0) -> None:
    """Publish through the client; the client's own subscription brings it back."""
    client.publish(topic, payload, qos=1)
    while True:
        msg = client.wait_message(topic, timeout=timeout)
        if msg.payload == payload:
            return


def answers(modem: Modem) -> bool:
    try:
        return modem.command("AT", timeout=1.0).final == "OK"
    except (ModemTimeout, CommandError):
        return False


def test_link_drop_with_each_cause_then_reconnect_and_publish(
    fam: Family, vm: VirtualModem, modem: Modem
) -> None:
    causes: queue.Queue[int] = queue.Queue()
    client = reconnecting(fam, modem, vm)
    client.on_disconnect = causes.put
    topic = fam.topic("drop")
    client.subscribe(topic, qos=1)
    for cause in fam.causes:
        vm.drop_link(0, cause=cause)
        got = causes.get(timeout=15)
        # The Alibaba firmware reports every loss as +CMYIELD: 1.
        assert got == (1 if fam.aliyun else cause), f"cause {cause} reported as {got}"
        wait_until(client.is_connected, timeout=30, what=f"reconnect after cause {cause}")
        # Resubscribed: a peer's message arrives, and our own publish goes through.
        round_trip(client, topic, f"after cause {cause}".encode())
        with Paho(vm.broker_url) as peer:
            deadline = time.monotonic() + 20
            got_msg = None
            while got_msg is None:
                peer.publish(topic, f"peer {cause}", qos=1)
                try:
                    got_msg = client.wait_message(topic, timeout=1.0)
                except ModemTimeout:
                    assert time.monotonic() < deadline, "not resubscribed after reconnect"
    assert causes.empty()
    assert client.stats()["disconnects"] == len(fam.causes)
    client.close()


def test_reboot_mid_session(fam: Family, vm: VirtualModem, modem: Modem) -> None:
    causes: queue.Queue[int] = queue.Queue()
    client = reconnecting(fam, modem, vm)
    client.on_disconnect = causes.put
    topic = fam.topic("reboot")
    client.subscribe(topic, qos=1)
    round_trip(client, topic, b"before")
    vm.reboot()  # RDY, +CPIN: READY ...; the MQTT service and every client are gone
    assert causes.get(timeout=15) == CAUSE_RESTARTED
    if fam.aliyun:
        # The firmware forgot the device triple; connect() sets everything up again and
        # keeps the subscriptions.
        wait_until(lambda: answers(modem), timeout=30, what="the modem answering")
        fam.connect(client, vm)
        client.subscribe(topic, qos=1)
    wait_until(client.is_connected, timeout=30, what="connected again after the reboot")
    round_trip(client, topic, b"after the reboot")
    assert modem.command("AT").final == "OK"
    client.close()


def test_replug_pty_new_modem_on_the_same_virtual_modem(fam: Family, vm: VirtualModem) -> None:
    """The host goes away without cleaning up (the modem keeps its clients and links) and a
    new Modem opens the same port: it takes over and works."""
    first = Modem(vm.port, timeout=10.0)
    old = fam.connected(first, vm)
    old.subscribe(fam.topic("old"), qos=1)
    first.close()
    with pytest.raises(ModemError):
        first.command("AT")
    with Modem(vm.port, timeout=10.0) as second:
        client = fam.connected(second, vm)
        topic = fam.topic("replug")
        client.subscribe(topic, qos=1)
        round_trip(client, topic, b"on the new port")
        client.close()


def test_unplug_tcp_port_then_replug(fam: Family) -> None:
    """VirtualModem(listen=...): a second host connecting takes the port over, as a replug
    does. The first host sees the loss: PortError on its next command, on_disconnect with
    the port-lost cause on its clients. The new host works."""
    with VirtualModem(fam.profile, listen="127.0.0.1:0") as vm:
        assert vm.tcp_url
        causes: queue.Queue[int] = queue.Queue()
        first = Modem(vm.tcp_url, timeout=10.0)
        try:
            old = fam.connected(first, vm)
            old.on_disconnect = causes.put
            with Modem(vm.tcp_url, timeout=10.0) as second:
                assert causes.get(timeout=20) == CAUSE_PORT_LOST
                with pytest.raises(PortError):
                    first.command("AT", timeout=5)
                with pytest.raises(ModemError):
                    old.publish(fam.topic(), b"lost", qos=1)
                client = fam.connected(second, vm)
                topic = fam.topic("tcp")
                client.subscribe(topic, qos=1)
                round_trip(client, topic, b"on the new connection")
                client.close()
        finally:
            first.close()


def test_late_response_then_stalled_modem(fam: Family, vm: VirtualModem, modem: Modem) -> None:
    client = fam.connected(modem, vm)
    topic = fam.topic("late")
    client.subscribe(topic, qos=1)
    rx = lambda: len([e for e in modem.transcript() if e[1] == "rx"])  # noqa: E731
    # 1. One answer comes after its deadline: ModemTimeout, then the late answer is not
    #    taken for the next command's.
    vm.set_response_delay(1.5)
    before = rx()
    with pytest.raises(ModemTimeout):
        modem.command("AT+CSQ", timeout=0.3)
    vm.set_response_delay(0.0)
    wait_until(lambda: rx() > before, timeout=10, what="the late answer")
    r = modem.command("AT+GMR" if fam.kind == "espat" else "AT+CGMM")
    assert r.final == "OK" and not any(x.startswith("+CSQ") for x in r.lines), r.lines
    round_trip(client, topic, b"after a late answer")
    # 2. The modem stops answering: every operation raises ModemTimeout (none hangs) ...
    vm.set_response_delay(2.0)
    with pytest.raises(ModemTimeout):
        modem.command("AT", timeout=0.5)
    with pytest.raises(ModemTimeout):
        client.publish(topic, b"into the void", qos=1, timeout=0.5)
    # ... and once it answers again, so does the client.
    vm.set_response_delay(0.0)
    wait_until(lambda: answers(modem), timeout=30, what="the modem answering again")
    round_trip(client, topic, b"after the stall")
    assert modem.command("AT").final == "OK"
    client.close()

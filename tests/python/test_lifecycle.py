"""Object lifecycle against a modem answered by a Python thread, in every family.

The modem is a virtual modem behind ``PyBridge``: a Python thread copies the bytes, as
users' simulators, bridges and pyserial proxies do. A call that waits on the modem while
attached to the interpreter keeps that thread from running and so stalls until its own
timeout (``TIMEOUT``, long on purpose): each test below would take at least that long if the
library did so, and asserts that it took a small part of it. Ctrl-C and interpreter exit run
in a subprocess so that the signal reaches a main thread of their own.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import modemqtt
import pytest
from families import FAMILIES, PROFILES, Family
from py_bridge import PyBridge
from support import wait_until

# The modem's timeout: a call that waited on the modem with the interpreter attached would
# take at least this long (the bridge cannot answer meanwhile).
TIMEOUT = 20.0
# What "did not wait on the modem" means here: well under TIMEOUT, with room for a loaded
# CI machine.
PROMPT = TIMEOUT / 4


@pytest.fixture(params=PROFILES)
def fam(request: pytest.FixtureRequest) -> Family:
    return FAMILIES[request.param]


@pytest.fixture
def vm(fam: Family):
    with modemqtt.VirtualModem(fam.profile) as vm:
        yield vm


@pytest.fixture
def bridge(vm: modemqtt.VirtualModem):
    with PyBridge(vm.port) as b:
        yield b


def goodbye(fam: Family) -> bytes:
    """A command the client sends only when it says goodbye to the modem."""
    return {
        "cmqtt": b"AT+CMQTTDISC=0",
        "qmt": b"AT+QMTDISC=0",
        "aliyun": b"AT+CMDISCONN",
        "sm": b"AT+SMDISC",
        "umqtt": b"AT+UMQTTC=0",
        "espat": b"AT+MQTTCLEAN=0",
    }[fam.kind]


def port_free(path: str) -> bool:
    try:
        modemqtt.Modem(path, timeout=TIMEOUT).close()
    except modemqtt.PortError:
        return False
    return True


def test_a_freed_connected_client_says_goodbye_without_blocking(fam, vm, bridge) -> None:
    with modemqtt.Modem(bridge.path, timeout=TIMEOUT) as modem:

        def session() -> None:
            fam.connected(modem, vm)

        start = time.monotonic()
        session()  # the client is freed when the function returns
        gc.collect()
        assert time.monotonic() - start < PROMPT
        # The goodbye happened anyway, on a thread of its own.
        wait_until(lambda: goodbye(fam) in bridge.host_bytes(), TIMEOUT, what="goodbye")


def test_a_client_keeps_its_modem_alive(fam, vm, bridge) -> None:
    if fam.aliyun:
        client = modemqtt.Modem(bridge.path, timeout=TIMEOUT).aliyun_mqtt(
            "CwlekguDcv3", "device", "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu"
        )
    else:
        client = modemqtt.Modem(bridge.path, timeout=TIMEOUT).mqtt("keep", 0)
    gc.collect()
    fam.connect(client, vm)
    assert client.is_connected()
    client.close()


def test_close_against_a_hung_modem_takes_the_modem_timeout(fam, vm, bridge) -> None:
    modem = modemqtt.Modem(bridge.path, timeout=2.0)
    client = fam.connected(modem, vm)
    bridge.hold()
    start = time.monotonic()
    client.close()
    took = time.monotonic() - start
    assert took < 2.0 + 1.0, f"client.close() took {took:.1f} s against a 2 s timeout"
    start = time.monotonic()
    modem.close(timeout=1.0)
    took = time.monotonic() - start
    assert took < 1.0 + 1.0, f"modem.close(timeout=1) took {took:.1f} s"
    bridge.release()
    assert port_free(bridge.path)


def test_exit_against_a_hung_modem_frees_the_port(fam, vm, bridge) -> None:
    start = time.monotonic()
    with modemqtt.Modem(bridge.path, timeout=2.0) as modem:
        fam.connected(modem, vm)
        bridge.hold()
    took = time.monotonic() - start
    bridge.release()
    assert took < TIMEOUT / 2
    assert port_free(bridge.path)


class Device:
    """An object holding its client, whose callbacks refer back to it: a cycle."""

    def __init__(self, fam: Family, vm: modemqtt.VirtualModem, port: str) -> None:
        self.lines: list[str] = []
        self.modem = modemqtt.Modem(port, timeout=TIMEOUT)
        self.modem.on_urc(lambda line: self.lines.append(line))
        self.client = fam.connected(self.modem, vm)
        self.client.on_message = self.on_message
        self.client.on_disconnect = self.on_disconnect
        self.client.on_connect = self.on_connect

    def on_message(self, msg: modemqtt.Message) -> None:
        pass

    def on_disconnect(self, cause: int) -> None:
        pass

    def on_connect(self) -> None:
        pass


def test_a_cycle_through_callbacks_is_collected_and_frees_the_port(fam, vm, bridge) -> None:
    Device(fam, vm, bridge.path)  # unreachable at once, but for the cycle
    start = time.monotonic()
    gc.collect()
    assert time.monotonic() - start < PROMPT
    wait_until(lambda: port_free(bridge.path), TIMEOUT, what="the port to be freed")


def test_callbacks_queued_when_their_cycle_is_collected_are_dropped(fam) -> None:
    """Unsolicited lines queue up for a ``Device`` cycle's ``on_urc`` while the callback
    thread is held (an ``on_message`` waiting on an event), and the cycle is collected
    meanwhile, unclosed. The collector may clear the lambda (closure and globals emptied)
    and free the ``Modem`` by reference count, through its client, without calling its
    ``__clear__``: a callback left in the slot the callback thread shares was then called
    in that state. Nothing of the collected cycle may run after the collection."""
    release = threading.Event()
    held: list[int] = []

    def hold(_msg: modemqtt.Message) -> None:
        held.append(1)
        release.wait(TIMEOUT)

    for _ in range(4):
        release.clear()
        held.clear()
        with modemqtt.VirtualModem(fam.profile) as vm:
            d = Device(fam, vm, vm.port)
            topic = fam.topic("held")
            d.client.on_message = hold
            d.client.subscribe(topic, qos=1)
            d.client.publish(topic, "first", qos=1)
            wait_until(lambda: held, TIMEOUT, what="the callback thread to be held")
            # Lines that queue behind the held callback (results, message parts).
            for i in range(3):
                d.client.publish(topic, f"more {i}", qos=1)
            lines = d.lines
            del d
            gc.collect()
            seen = len(lines)
            release.set()
            time.sleep(0.3)  # the queued items run, or are dropped, now
            assert len(lines) == seen, "on_urc of a collected cycle was called"


def test_getters_reprs_and_registration_do_not_wait(fam, vm, bridge) -> None:
    with modemqtt.Modem(bridge.path, timeout=TIMEOUT) as modem:
        client = fam.connected(modem, vm)
        bridge.hold()
        start = time.monotonic()
        for _ in range(3):
            repr(modem)
            modem._repr_html_()
            assert modem.family == fam.kind
            assert not modem.closed
            repr(client)
            client._repr_html_()
            client.stats()
            client.subscriptions()
            client.capabilities()
            client.on_message = lambda m: None
            client.on_message = None
            modem.on_urc(lambda line: None)
            modem.on_urc(None)
            modem.transcript()
            modem.transcript_text()
        assert time.monotonic() - start < PROMPT
        bridge.release()
        client.close()


def test_virtual_modem_close_with_delayed_answers_pending(fam) -> None:
    vm = modemqtt.VirtualModem(fam.profile)
    vm.set_response_delay(3.0)
    fd = os.open(vm.port, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"AT\rAT\rAT\rAT\rAT\rAT\rAT\rAT\r")
        time.sleep(0.2)  # the first command is being delayed now
        start = time.monotonic()
        vm.close()
        took = time.monotonic() - start
    finally:
        os.close(fd)
    assert took < 3.0, f"VirtualModem.close() took {took:.1f} s with answers pending"


SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    sys.path.insert(0, sys.argv[3])
    import modemqtt
    from families import FAMILIES
    from py_bridge import PyBridge

    fam = FAMILIES[sys.argv[1]]
    what = sys.argv[2]
    vm = modemqtt.VirtualModem(fam.profile)
    bridge = PyBridge(vm.port)
    modem = modemqtt.Modem(bridge.path, timeout=30.0)
    client = fam.client(modem)
    if what != "connect":
        fam.connect(client, vm)
    calls = {
        "wait_message": lambda: client.wait_message(timeout=30),
        "connect": lambda: fam.connect(client, vm, timeout=60),
        "publish": lambda: client.publish(fam.topic(), b"x", qos=1, timeout=60),
        "subscribe": lambda: client.subscribe(fam.topic(), qos=1, timeout=60),
    }

    def interrupt_soon():
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    if what == "exit":
        # Exit with the client connected and the modem hung: nothing may wait on it.
        bridge.hold()
        print(json.dumps({"exiting": time.monotonic()}), flush=True)
    elif what == "busy":
        # Exit while the core's threads call into Python (debug logs of the client and the
        # virtual modem, an on_message callback) and a daemon thread waits on the modem.
        # The log handler and the callback sleep (the interpreter released) so that exit
        # falls while they run.
        import logging

        class SlowHandler(logging.Handler):
            def emit(self, record):
                time.sleep(0.02)

        logging.getLogger("modemqtt").addHandler(SlowHandler())
        logging.getLogger("modemqtt").setLevel(logging.DEBUG)
        logging.getLogger("modemqtt.sim").setLevel(logging.DEBUG)
        topic = fam.topic()
        client.subscribe(topic, qos=1)
        got = threading.Semaphore(0)

        def on_message(m):
            time.sleep(0.02)
            got.release()

        client.on_message = on_message

        def publish_forever():
            while True:
                client.publish(topic, b"x", qos=1)

        threading.Thread(target=publish_forever, daemon=True).start()
        for _ in range(5):
            assert got.acquire(timeout=30), "no message came back"
        print(json.dumps({"exiting": time.monotonic()}), flush=True)
    else:
        if what != "wait_message":
            bridge.hold()  # the modem hangs: only the interrupt ends the call
        threading.Thread(target=interrupt_soon, daemon=True).start()
        start = time.monotonic()
        late = None
        try:
            calls[what]()
        except KeyboardInterrupt:
            late = round(time.monotonic() - start - 0.5, 3)
        print(json.dumps({"late": late}), flush=True)
    """
)


def run_script(profile: str, what: str) -> subprocess.CompletedProcess[str]:
    here = str(Path(__file__).parent)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, profile, what, here],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("call", ["wait_message", "connect", "publish", "subscribe"])
def test_ctrl_c_interrupts_blocking_calls(fam, call) -> None:
    r = run_script(fam.profile, call)
    assert r.returncode == 0, r.stderr
    late = json.loads(r.stdout.strip().splitlines()[-1])["late"]
    # KeyboardInterrupt reached the caller within ~100 ms of the signal (the bound is
    # generous for a loaded machine, and far below every timeout in play).
    assert late is not None, f"{call}: not interrupted"
    assert late < 1.0, f"{call}: interrupted {late} s after the signal"


def test_interpreter_exit_with_a_client_connected_is_prompt(fam) -> None:
    r = run_script(fam.profile, "exit")
    ended = time.monotonic()
    assert r.returncode == 0, r.stderr
    # time.monotonic() is CLOCK_MONOTONIC, one clock for every process of the machine.
    exiting = json.loads(r.stdout.strip().splitlines()[-1])["exiting"]
    # From the script's last line to the process's end: the interpreter's shutdown frees
    # the client, the modem and the virtual modem without waiting on the hung modem.
    assert ended - exiting < 2.0, f"exit took {ended - exiting:.2f} s"


@pytest.mark.parametrize("run", range(3))
def test_interpreter_exit_while_callbacks_logs_and_calls_run(fam, run) -> None:
    """The process ends normally (no SIGABRT from a thread that comes back to an exiting
    interpreter), however the exit falls among the core's and the daemon's calls."""
    r = run_script(fam.profile, "busy")
    assert r.returncode == 0, f"exit status {r.returncode}: {r.stderr[-2000:]}"
    assert "exiting" in r.stdout


class Ticker:
    """A Python thread that notes the time every 10 ms: a call that keeps the interpreter
    while it waits lets no tick through for as long as it waits."""

    def __init__(self) -> None:
        import threading

        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.times.append(time.monotonic())

    def ticks(self, since: float, until: float) -> int:
        return sum(1 for t in self.times if since < t < until)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def test_every_blocking_call_leaves_the_interpreter_free(fam, vm, bridge) -> None:
    """Each public call that may wait on the modem, made while the modem does not answer:
    it times out, and meanwhile other Python threads run. The ticker notes the time every
    10 ms; a call that kept the interpreter while it waited would let none through, so each
    call must let through at least one per 100 ms it lasted (a tenth of the ticker's pace,
    room for a loaded machine)."""
    modem = modemqtt.Modem(bridge.path, timeout=1.0)
    client = fam.connected(modem, vm)
    topic = fam.topic()
    calls = {
        "Modem.command": lambda: modem.command("AT+CSQ", timeout=1.0),
        "Modem.info": modem.info,
        "Modem.signal_quality": modem.signal_quality,
        "Modem.wait_registered": lambda: modem.wait_registered(timeout=1.0),
        "MqttClient.publish": lambda: client.publish(topic, b"x", qos=1, timeout=1.0),
        "MqttClient.subscribe": lambda: client.subscribe(topic, qos=1, timeout=1.0),
        "MqttClient.unsubscribe": lambda: client.unsubscribe(topic, timeout=1.0),
        "MqttClient.is_connected": client.is_connected,
        "MqttClient.wait_message": lambda: client.wait_message(timeout=1.0),
        "MqttClient.disconnect": lambda: client.disconnect(timeout=1.0),
        "MqttClient.close": lambda: client.close(timeout=1.0),
        "Modem.close": lambda: modem.close(timeout=1.0),
    }
    bridge.hold()
    ticker = Ticker()
    try:
        for name, call in calls.items():
            start = time.monotonic()
            try:
                call()
            except modemqtt.ModemError:
                pass  # a timeout: the modem does not answer
            end = time.monotonic()
            ticks = ticker.ticks(start, end)
            assert ticks >= int((end - start) / 0.1) - 1, (
                f"{name}: other threads ran {ticks} times in the {end - start:.2f} s it took"
            )
    finally:
        ticker.stop()
        bridge.release()

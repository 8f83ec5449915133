"""The virtual modem's network timing (docs/virtual-modem.md, "Timing"): what comes from the
network (connect / publish results, received messages, link losses) follows the command's OK
after a delay, not in the same write; the OK itself does not wait.

The checks are about order and separation, never about how long anything took: with a
network delay of seconds, the host gets the OK of a command sent after the one that went to
the network before that network's result arrives.
"""

from __future__ import annotations

import math
import os
import queue
import select
import termios
import time
import tty
from collections.abc import Iterator

import pytest
from modemqtt import Modem, NetworkTiming, VirtualModem
from support import (
    cli_sim,
    connected,
    host_port,
    round_trip_in_order,
    run_cli,
    unique_topic,
)

# Long enough that the host's next command is answered well before the network's result.
SLOW = NetworkTiming(2.0)
DEADLINE_S = 20.0

LTE = ["a7600", "sim7600", "ec20", "ec25", "eg91"]
FAMILIES = ["a7600", "sim7028", "ec20", "bg96"]
ALIYUN = ["sim7600-aliyun", "sim7000-aliyun"]


class Line:
    """The host end of the pty, raw, every read bounded."""

    def __init__(self, port: str) -> None:
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd, termios.TCSANOW)
        self.buf = b""

    def close(self) -> None:
        os.close(self.fd)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def _read(self, wait: float) -> None:
        if select.select([self.fd], [], [], wait)[0]:
            try:
                self.buf += os.read(self.fd, 65536)
            except BlockingIOError:
                pass

    def until(self, pattern: bytes) -> bytes:
        """Everything up to and including ``pattern`` (consumed)."""
        deadline = time.monotonic() + DEADLINE_S
        while pattern not in self.buf:
            assert time.monotonic() < deadline, f"no {pattern!r}; got {self.buf!r}"
            self._read(0.05)
        end = self.buf.index(pattern) + len(pattern)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def cmd(self, line: str, final: bytes = b"\r\nOK\r\n") -> bytes:
        self.send(line.encode() + b"\r")
        return self.until(final)


@pytest.fixture
def line_for() -> Iterator[object]:
    opened: list[Line] = []

    def make(port: str) -> Line:
        ln = Line(port)
        opened.append(ln)
        return ln

    yield make
    for ln in opened:
        ln.close()


def open_client(ln: Line, vm: VirtualModem, profile: str) -> bytes:
    """Starts client 0's connection; returns the result URC to expect. With a network delay,
    checks that ``AT+QMTOPEN``'s result comes after the next command's OK."""
    delayed = vm.timing.delay > 0
    host, port = host_port(vm.broker_url)
    ln.cmd("ATE0")
    if profile in ("ec20", "bg96"):
        ln.cmd(f'AT+QMTOPEN=0,"{host}",{port}')
        # The open's result comes from the network: not before the next command's OK.
        if delayed:
            got = ln.cmd("AT")
            assert b"+QMTOPEN" not in got, got
        ln.until(b"\r\n+QMTOPEN: 0,0\r\n")
        ln.cmd('AT+QMTCONN=0,"timing-client"')
        return b"\r\n+QMTCONN: 0,0,0\r\n"
    # CMQTT: the service start is local and answers at once.
    ln.cmd("AT+CMQTTSTART", b"\r\n+CMQTTSTART: 0\r\n")
    ln.cmd('AT+CMQTTACCQ=0,"timing-client"')
    ln.cmd(f'AT+CMQTTCONNECT=0,"tcp://{host}:{port}",60,1')
    return b"\r\n+CMQTTCONNECT: 0,0\r\n"


@pytest.mark.parametrize("profile", FAMILIES)
def test_results_and_link_loss_follow_the_next_commands_ok(profile: str, line_for: object) -> None:
    with VirtualModem(profile, timing=SLOW) as vm:
        ln = line_for(vm.port)  # type: ignore[operator]
        result = open_client(ln, vm, profile)
        got = ln.cmd("AT")
        assert result not in got, got
        ln.until(result)

        # A QoS 0 publish: the module answers OK and reports it sent later, not with the OK.
        if profile in ("ec20", "bg96"):
            ln.send(b'AT+QMTPUB=0,0,0,0,"timing/t",5\r')
            ln.until(b"> ")
            ln.send(b"hello")
            ln.until(b"\r\nOK\r\n")
            sent = b"\r\n+QMTPUB: 0,0,0\r\n"
        else:
            ln.send(b"AT+CMQTTTOPIC=0,8\r")
            ln.until(b">")
            ln.send(b"timing/t")
            ln.until(b"\r\nOK\r\n")
            ln.send(b"AT+CMQTTPAYLOAD=0,5\r")
            ln.until(b">")
            ln.send(b"hello")
            ln.until(b"\r\nOK\r\n")
            ln.send(b"AT+CMQTTPUB=0,0,60\r")
            ln.until(b"\r\nOK\r\n")
            sent = b"\r\n+CMQTTPUB: 0,0\r\n"
        assert sent not in ln.buf
        got = ln.cmd("AT")
        assert sent not in got, got
        ln.until(sent)

        # A link loss reaches the host after the network delay too.
        vm.drop_link(0, 1)
        loss = (
            b"\r\n+QMTSTAT: 0,1\r\n"
            if profile in ("ec20", "bg96")
            else b"\r\n+CMQTTCONNLOST: 0,1\r\n"
        )
        got = ln.cmd("AT")
        assert loss not in got, got
        ln.until(loss)


def test_sm_link_loss_follows_the_next_commands_ok(line_for: object) -> None:
    """SIMCom SM* has no result URCs: AT+SMCONN's own OK is the network's answer. A link
    loss (``+SMSTATE: 0``) comes from the network: after the next command's OK."""
    with VirtualModem("sim7080", timing=SLOW) as vm:
        ln = line_for(vm.port)  # type: ignore[operator]
        host, port = host_port(vm.broker_url)
        ln.cmd("ATE0")
        ln.cmd(f'AT+SMCONF="URL","{host}",{port}')
        ln.cmd('AT+SMCONF="CLIENTID","timing-sm"')
        ln.cmd("AT+SMCONN")
        vm.drop_link(0, 1)
        got = ln.cmd("AT")
        assert b"+SMSTATE" not in got, got
        ln.until(b"\r\n+SMSTATE: 0\r\n")


@pytest.mark.parametrize("profile", FAMILIES)
def test_fast_timing_writes_the_result_without_waiting(profile: str, line_for: object) -> None:
    """The default: the result is on its way as soon as the link has it (no delay queued)."""
    with VirtualModem(profile) as vm:
        assert vm.timing == NetworkTiming.preset("fast", profile)
        assert (vm.timing.delay, vm.timing.jitter) == (0.0, 0.0)
        ln = line_for(vm.port)  # type: ignore[operator]
        ln.until(open_client(ln, vm, profile))


@pytest.mark.parametrize("profile", FAMILIES)
def test_messages_keep_their_order_under_jitter(profile: str) -> None:
    """Each frame draws its own delay, yet none overtakes one queued before it."""
    jittery = NetworkTiming(0.01, jitter=0.5, seed=5)
    delays = jittery.delays(20)
    assert any(a > b for a, b in zip(delays, delays[1:])), "the draws must go down somewhere"
    with VirtualModem(profile, timing=jittery) as vm, Modem(vm.port, timeout=20.0) as modem:
        topic = unique_topic("timing/order")
        with connected(modem, host_port(vm.broker_url)) as client:
            got = round_trip_in_order(client, topic, 8, timeout=20)
    assert got == [f"m{i}".encode() for i in range(8)]


def test_realistic_preset_follows_the_radio() -> None:
    for p in LTE:
        t = NetworkTiming.preset("realistic", p)
        assert (t.delay, t.jitter) == (0.3, 0.1), p
    bg96 = NetworkTiming.preset("realistic", "bg96")
    assert (bg96.delay, bg96.jitter) == (0.3, 0.2)
    nb = NetworkTiming.preset("realistic", "sim7028")
    assert (nb.delay, nb.jitter) == (1.6, 0.8)
    assert NetworkTiming.preset("REALISTIC", "BG96") == bg96
    fast = NetworkTiming.preset("fast", "bg96")
    assert (fast.delay, fast.jitter) == (0.0, 0.0)


@pytest.mark.parametrize("profile", FAMILIES)
def test_timing_property_reports_what_was_asked(profile: str) -> None:
    with VirtualModem(profile, timing="realistic") as vm:
        assert vm.timing == NetworkTiming.preset("realistic", profile)
        custom = NetworkTiming(0.5, jitter=0.25, seed=9)
        vm.set_timing(custom)
        assert vm.timing == custom
        assert repr(vm.timing) == "NetworkTiming(delay=0.5, jitter=0.25, seed=9)"
        vm.set_timing("fast")
        assert vm.timing == NetworkTiming.preset("fast", profile)


def test_same_seed_same_delays() -> None:
    a = NetworkTiming(0.1, jitter=0.05, seed=7)
    first = a.delays(50)
    assert first == NetworkTiming(0.1, jitter=0.05, seed=7).delays(50)
    assert first != NetworkTiming(0.1, jitter=0.05, seed=8).delays(50)
    assert all(0.1 <= d <= 0.15 + 1e-9 for d in first)
    assert len(set(first)) > 1
    assert NetworkTiming(0.2).delays(3) == [0.2, 0.2, 0.2]


@pytest.mark.parametrize(
    ("args", "word"),
    [
        ((-0.1,), "delay"),
        ((61.0,), "delay"),
        ((math.nan,), "delay"),
        ((0.1, -1.0), "jitter"),
        ((0.1, math.inf), "jitter"),
    ],
)
def test_bad_timing_values_raise_value_error(args: tuple[float, ...], word: str) -> None:
    with pytest.raises(ValueError, match=f"^{word}: must be 0 to 60"):
        NetworkTiming(*args)


def test_unknown_preset_names_the_argument_and_the_presets() -> None:
    with pytest.raises(ValueError, match=r'timing: unknown preset "slow".*fast, realistic'):
        VirtualModem("a7600", timing="slow")
    with pytest.raises(ValueError, match=r"timing: unknown preset"):
        NetworkTiming.preset("lte", "a7600")
    with pytest.raises(ValueError, match=r"profile: unknown profile"):
        NetworkTiming.preset("fast", "nope")
    with pytest.raises(TypeError, match=r"timing: expected a preset name"):
        VirtualModem("a7600", timing=2)  # type: ignore[arg-type]
    with VirtualModem("ec20") as vm, pytest.raises(ValueError, match="timing: unknown preset"):
        vm.set_timing("slow")


@pytest.mark.parametrize("profile", ALIYUN)
def test_alibaba_reports_reach_a_yield_after_the_network_delay(profile: str) -> None:
    """The Alibaba firmware prints what the network brought only inside ``AT+CMYIELD``
    windows: a window that closes before the delay has passed prints nothing; a later one
    prints the report. A lost link is reported the same way."""
    pk, dn, ds = "CwlekguDcv3", "device", "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu"
    topic = f"/{pk}/{dn}/get"
    with VirtualModem(profile, timing=SLOW) as vm, Modem(vm.port, timeout=10.0) as m:
        assert vm.timing == SLOW
        urcs: queue.Queue[str] = queue.Queue()
        m.on_urc(urcs.put)
        if profile == "sim7000-aliyun":
            m.command('AT+CNACT=1,"cmnet"')
            assert urcs.get(timeout=DEADLINE_S) == "+APP PDP: ACTIVE"
        m.command(f'AT+CMAUTH="{pk}","{dn}","{ds}"')
        m.command("AT+CMCONN", timeout=DEADLINE_S)
        m.command(f'AT+CMSUB="{topic}",1')

        def report_after_a_short_window() -> str | None:
            m.command("AT+CMYIELD=10")
            return first_report(m, urcs)

        assert report_after_a_short_window() is None
        assert yield_until(m, urcs) == "+CMYIELD: 3"

        vm.drop_link(0, 1)
        assert report_after_a_short_window() is None
        assert yield_until(m, urcs) == "+CMYIELD: 1"


def first_report(m: Modem, urcs: queue.Queue[str]) -> str | None:
    """The first ``+CMYIELD`` report of the window just asked for, if it printed one. The
    modem runs the window before it reads the next command, so a report comes before the
    next command's ``OK``: as a URC, or inside that command's answer."""
    lines = list(m.command("AT").lines)
    seen = [u for u in list(urcs.queue) + lines if u.startswith("+CMYIELD:")]
    while not urcs.empty():
        urcs.get_nowait()
    return seen[0] if seen else None


def yield_until(m: Modem, urcs: queue.Queue[str]) -> str:
    """``AT+CMYIELD`` windows until one prints a report (bounded by ``DEADLINE_S``)."""
    end = time.monotonic() + DEADLINE_S
    while True:
        assert time.monotonic() < end, f"no +CMYIELD report within {DEADLINE_S} s"
        m.command("AT+CMYIELD=500")
        report = first_report(m, urcs)
        if report is not None:
            return report


def test_sim_port_url_takes_the_timing() -> None:
    with Modem("sim://bg96?timing=realistic", timeout=10.0) as modem:
        assert modem.info().model == "BG96"
    with pytest.raises(ValueError, match=r"timing: unknown preset"):
        Modem("sim://bg96?timing=slow")
    with pytest.raises(ValueError, match=r"unknown option"):
        Modem("sim://bg96?speed=1")


def test_cli_sim_takes_the_timing_flag() -> None:
    r = run_cli("sim", "--help")
    assert "--timing {fast,realistic}" in r.stdout
    r = run_cli("sim", "bg96", "--timing", "slow")
    assert r.returncode != 0
    assert "invalid choice: 'slow'" in r.stderr
    r = run_cli("demo", "--profile", "bg96", "--timing", "realistic", "--json")
    assert r.returncode == 0, r.stderr
    assert '"latency_ms"' in r.stdout


def test_cli_sim_serves_with_the_realistic_timing() -> None:
    with cli_sim("bg96", "--timing", "realistic") as doc:
        assert doc["timing"] == {"name": "realistic", "delay": 0.3, "jitter": 0.2}
        with Modem(doc["port"], timeout=10.0) as m:
            assert m.info().family == "qmt"

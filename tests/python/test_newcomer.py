"""What a new user meets first (issue 16): on_message next to wait_message, the not-connected
error, path arguments, error texts, logging of the virtual modem and broker, the `at`
command's exit status and transcript, VirtualModem's reprs, help() of Modem."""

from __future__ import annotations

import inspect
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import modemqtt
import pytest
from families import FAMILIES, Family, tx_bytes
from modemqtt import Message, Modem, ModemError, MqttClient, NotConnectedError, VirtualModem
from support import run_cli, run_python, wait_until

TEE_PROFILES = ["a7600", "ec20", "sim7600-aliyun", "sim7080", "esp32-at"]


@pytest.fixture(params=TEE_PROFILES)
def family(request: pytest.FixtureRequest) -> Family:
    return FAMILIES[request.param]


@pytest.fixture
def setup(family: Family) -> Iterator[tuple[Family, VirtualModem, Modem]]:
    with VirtualModem(family.profile) as vm, Modem(vm.port, timeout=10.0) as m:
        yield family, vm, m


class Collector:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: list[Message] = []

    def __call__(self, msg: Message) -> None:
        with self.lock:
            self.got.append(msg)

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [m.payload for m in self.got]


def _publish_all(client: modemqtt.MqttClient, topic: str, payloads: list[bytes]) -> None:
    for p in payloads:
        client.publish(topic, p, qos=1)


def _collecting(
    setup: tuple[Family, VirtualModem, Modem], name: str, **options: Any
) -> tuple[MqttClient, Collector, str]:
    """A connected client with a Collector as on_message, subscribed at QoS 1 to its topic."""
    fam, vm, m = setup
    client = fam.connected(m, vm, **options)
    seen = Collector()
    client.on_message = seen
    topic = fam.topic(name)
    client.subscribe(topic, qos=1)
    return client, seen, topic


def test_callback_and_wait_message_each_see_every_message(
    setup: tuple[Family, VirtualModem, Modem],
) -> None:
    client, seen, topic = _collecting(setup, "tee")
    payloads = [f"m{i}".encode() for i in range(5)]
    _publish_all(client, topic, payloads)
    got = [client.wait_message(topic, timeout=30).payload for _ in payloads]
    assert got == payloads
    wait_until(lambda: seen.payloads() == payloads, timeout=30, what="the callback's messages")
    assert client.dropped == 0
    assert client.stats()["queued"] == 0


def test_callback_only_keeps_the_newest_copies_without_counting_drops(
    setup: tuple[Family, VirtualModem, Modem],
) -> None:
    client, seen, topic = _collecting(setup, "cb-only", queue_size=3)
    payloads = [f"n{i}".encode() for i in range(8)]
    _publish_all(client, topic, payloads)
    wait_until(lambda: seen.payloads() == payloads, timeout=30, what="the callback's messages")
    # Nobody read the queue: the oldest unread copies gave way, and none counts as dropped.
    assert client.dropped == 0
    assert client.received == len(payloads)
    assert client.stats()["queued"] == 3
    assert [client.wait_message(timeout=5).payload for _ in range(3)] == payloads[-3:]


def test_without_callback_a_full_queue_drops_new_messages_and_counts_them() -> None:
    fam = FAMILIES["a7600"]  # URC delivery: the modem does not hold messages back
    with VirtualModem(fam.profile) as vm, Modem(vm.port, timeout=10.0) as m:
        client = fam.connected(m, vm, queue_size=3)
        topic = fam.topic("full")
        client.subscribe(topic, qos=1)
        payloads = [f"d{i}".encode() for i in range(5)]
        _publish_all(client, topic, payloads)
        wait_until(lambda: client.received == 5, timeout=30, what="five messages")
        assert client.dropped == 2
        assert [client.wait_message(timeout=5).payload for _ in range(3)] == payloads[:3]


def test_setting_the_callback_passes_queued_messages_and_keeps_them(
    setup: tuple[Family, VirtualModem, Modem],
) -> None:
    fam, vm, m = setup
    client = fam.connected(m, vm)
    topic = fam.topic("late-cb")
    client.subscribe(topic, qos=1)
    payloads = [b"a", b"b"]
    _publish_all(client, topic, payloads)
    wait_until(lambda: client.stats()["queued"] == 2, timeout=30, what="two queued")
    seen = Collector()
    client.on_message = seen
    wait_until(lambda: seen.payloads() == payloads, timeout=30, what="the callback's messages")
    client.on_message = None
    assert [client.wait_message(timeout=5).payload for _ in payloads] == payloads


@pytest.mark.parametrize("profile", TEE_PROFILES)
def test_mqtt_operations_before_connect_raise_not_connected_and_send_nothing(
    profile: str,
) -> None:
    fam = FAMILIES[profile]
    with VirtualModem(profile) as vm, Modem(vm.port, timeout=10.0) as m:
        client = fam.client(m)
        before = len(tx_bytes(m))
        topic = fam.topic("nc")
        with pytest.raises(NotConnectedError, match=r"^publish: not connected") as e:
            client.publish(topic, b"x", qos=1)
        assert isinstance(e.value, ModemError)
        with pytest.raises(NotConnectedError, match="subscribe: not connected"):
            client.subscribe(topic, qos=1)
        with pytest.raises(NotConnectedError, match="unsubscribe: not connected"):
            client.unsubscribe(topic)
        assert len(tx_bytes(m)) == before
        fam.connect(client, vm)
        client.publish(topic, b"x", qos=1)
        client.disconnect()
        with pytest.raises(NotConnectedError):
            client.publish(topic, b"x", qos=1)


def test_modem_takes_a_pathlike_port_and_record_path(tmp_path: Path) -> None:
    with VirtualModem("a7600") as vm:
        record = tmp_path / "s.jsonl"
        with Modem(Path(vm.port), record=record) as m:
            assert m.port == vm.port
            m.command("AT")
        assert record.stat().st_size > 0


def test_error_texts_are_plain_words(tmp_path: Path) -> None:
    not_a_port = tmp_path / "file.txt"
    not_a_port.write_text("x")
    with pytest.raises(modemqtt.PortError, match=r": not a serial port$"):
        Modem(str(not_a_port))
    with VirtualModem("a7600") as vm, Modem(vm.port, timeout=10.0) as m:
        client = m.mqtt("words")
        with pytest.raises(ValueError) as e:
            client.publish("a" * 1100, b"x")
        assert str(e.value) == "topic: 1100 bytes is too long (at most 1024 bytes)"
        with pytest.raises(ValueError) as e:
            m.mqtt("x", op_timeout=5)
        assert "..=" not in str(e.value) and "20 to 120" in str(e.value)
        vm.set_response_delay(2.0)
        with pytest.raises(modemqtt.ModemTimeout) as t:
            m.command("AT+CSQ", timeout=0.2)
        assert str(t.value) == "AT+CSQ: timed out after 0.2 s waiting for a final result"


LOG_SCRIPT = """
import logging, sys
import modemqtt
from urllib.parse import urlsplit
fmt = "%(levelname)s:%(name)s:%(message)s"
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format=fmt)
if len(sys.argv) > 1:
    logging.getLogger("modemqtt.sim").setLevel(logging.DEBUG)
with modemqtt.VirtualModem("a7600") as vm, modemqtt.Modem(vm.port) as m:
    b = urlsplit(vm.broker_url)
    c = m.mqtt("logs")
    c.connect(b.hostname, b.port)
    c.subscribe("logs/t", qos=1)
    c.publish("logs/t", b"x", qos=1)
    c.wait_message(timeout=30)
    c.disconnect()
"""


def _log_lines(*args: str) -> list[str]:
    done = run_python("-c", LOG_SCRIPT, *args, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_debug_logging_shows_the_modem_not_the_simulators_internals() -> None:
    lines = _log_lines()
    names = {line.split(":")[1] for line in lines if line.count(":") >= 2}
    assert "modemqtt.wire" in names
    foreign = [n for n in names if not n.startswith("modemqtt")]
    assert not foreign, foreign
    inner = [n for n in names if n.startswith(("modemqtt.sim", "modemqtt.broker"))]
    assert not [
        line
        for line in lines
        if line.startswith(("DEBUG:", "INFO:")) and line.split(":")[1] in inner
    ], inner


def test_the_simulators_log_when_their_logger_is_enabled() -> None:
    names = {line.split(":")[1] for line in _log_lines("sim") if line.count(":") >= 2}
    assert any(n.startswith("modemqtt.sim") for n in names), names
    assert not [n for n in names if not n.startswith("modemqtt")], names


def _at(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_python(
        "-m", "modemqtt.cli", "at", "sim://a7600", *args, input=script, timeout=90, cwd=cwd
    )


def test_at_script_exit_status_and_opt_in_transcript(tmp_path: Path) -> None:
    ok = _at("AT\nAT+CSQ\n", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "+CSQ:" in ok.stdout
    assert list(tmp_path.iterdir()) == []  # no transcript unless asked for
    failed = _at("AT+NOSUCHCOMMAND\nAT\n", cwd=tmp_path)
    assert failed.returncode != 0, failed.stdout + failed.stderr
    assert "1 of the script's lines failed" in failed.stderr
    saved = _at("AT\n", "--transcript", "t.txt", cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]
    assert "AT" in (tmp_path / "t.txt").read_text()


def test_cli_help_and_error_lines() -> None:
    cli = run_cli
    text = cli("pub", "--help").stdout
    assert "topic to publish to" in text and "QoS of the publish" in text
    bad = cli("sub", "sim://a7600", "-h", "x", "-t", "a", "-C", "0")
    assert bad.returncode != 0
    assert bad.stderr.strip() == "modemqtt: error: -C: must be at least 1"


def test_virtual_modem_reprs_say_whether_it_is_closed() -> None:
    vm = VirtualModem("a7600")
    try:
        assert not vm.closed
        assert repr(vm).startswith("VirtualModem(profile='a7600'")
        assert "running" in vm._repr_html_()
    finally:
        vm.close()
    assert vm.closed
    assert repr(vm).startswith("<closed VirtualModem")
    assert "closed" in vm._repr_html_()


def test_help_of_modem_documents_its_methods() -> None:
    for name in ("info", "signal_quality", "wait_registered", "mqtt"):
        assert inspect.getdoc(getattr(Modem, name)), name
    sig = inspect.signature(Modem.mqtt)
    assert sig.parameters["reconnect_delay"].default == (1.0, 30.0)
    assert "Ellipsis" not in str(sig)
    assert "NotConnectedError" in modemqtt.__all__

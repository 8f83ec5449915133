"""The CMQTT suite through every kind of port: the virtual modem's pty, its own TCP listener
(``socket://`` direct), and a real ser2net in front of its pty, raw (``socket://``) and in
telnet/RFC 2217 mode (``rfc2217://``). Plus what only remote ports have: URL options, ser2net
killed and restarted mid-session, a server that is not what the URL says.

The round-trip tests are the ones of test_mqtt_shared.py and test_cmqtt_virtual.py, imported
here: they run against this module's ``vm`` / ``modem`` / ``broker`` fixtures (an A7600),
parametrised over the port kind.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from modemqtt import Modem, ModemTimeout, PortError, VirtualModem
from ser2net_helper import Ser2net, require_ser2net
from support import free_port, host_port, unique_topic, wait_until

# The subset of the CMQTT suite that runs through every port kind (binary payloads with
# 0xFF, byte-by-byte output, noise, both clients, wills, link loss, reconnect, reboot).
from test_cmqtt_virtual import (  # noqa: F401 - collected by pytest with this module's fixtures
    test_set_part_size_and_bytewise_output,
    test_will_reaches_other_client_index,
)
from test_mqtt_shared import (  # noqa: F401 - collected by pytest with this module's fixtures
    FACTS,
    Facts,
    test_auto_reconnect_resubscribes,
    test_bytewise_output_and_noise,
    test_disconnect_and_connect_again,
    test_drop_link_calls_on_disconnect_with_each_cause,
    test_every_client_index_at_once,
    test_largest_binary_payload_byte_exact,
    test_messages_iterator_in_order,
    test_password_is_masked,
    test_reboot_drops_connections,
    test_retained_message_reaches_new_subscription,
    test_round_trip,
    test_subscribe_list_and_unsubscribe,
)

KINDS = ["pty", "tcp", "socket", "rfc2217"]
CAUSE_PORT_LOST = -1


@pytest.fixture
def profile() -> str:
    """The shared suite's tests run here on an A7600 only: the port kind is what varies."""
    return "a7600"


@pytest.fixture
def facts(profile: str) -> Facts:
    return FACTS[profile]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def vm() -> Iterator[VirtualModem]:
    with VirtualModem("a7600", listen="127.0.0.1:0") as v:
        yield v


@pytest.fixture
def ser2net(tmp_path: Path) -> Iterator[Ser2net]:
    s = Ser2net(tmp_path, require_ser2net())
    try:
        yield s
    finally:
        s.stop()


def port_url(kind: str, vm: VirtualModem, request: pytest.FixtureRequest) -> str:
    if kind == "pty":
        return vm.port
    if kind == "tcp":
        assert vm.tcp_url is not None
        return vm.tcp_url
    s: Ser2net = request.getfixturevalue("ser2net")
    s.add("modem", vm.port, "raw" if kind == "socket" else "rfc2217")
    s.start()
    return s.url("modem")


@pytest.fixture
def url(kind: str, vm: VirtualModem, request: pytest.FixtureRequest) -> str:
    return port_url(kind, vm, request)


@pytest.fixture
def modem(url: str) -> Iterator[Modem]:
    with Modem(url, timeout=10.0) as m:
        yield m


def new_id() -> str:
    return f"r-{uuid.uuid4().hex[:10]}"


# ----------------------------------------------------------------------------- opening


def test_port_kind_is_what_the_url_says(kind: str, url: str, modem: Modem) -> None:
    expected = {"pty": "/dev/", "tcp": "socket://", "socket": "socket://", "rfc2217": "rfc2217://"}
    assert url.startswith(expected[kind])
    assert modem.port == url
    assert modem.info().family == "cmqtt"


@pytest.mark.parametrize(
    "options", ["?ign_set_control", "?timeout=3", "?ign_set_control&timeout=3"]
)
def test_rfc2217_url_options(vm: VirtualModem, ser2net: Ser2net, options: str) -> None:
    ser2net.add("modem", vm.port, "rfc2217")
    ser2net.start()
    with Modem(ser2net.url("modem") + options, timeout=10.0) as m:
        assert m.command("AT").final == "OK"


@pytest.mark.parametrize(
    "url, message",
    [
        ("rfc2217://127.0.0.1:1?logging=debug", "unknown option"),
        ("socket://127.0.0.1:1?ign_set_control", "unknown option"),
        ("rfc2217://127.0.0.1:1?timeout=0", "timeout"),
        ("rfc2217://127.0.0.1:1?timeout=x", "timeout"),
        ("socket://127.0.0.1", "host:port"),
        ("socket://127.0.0.1:1/path", "no path"),
    ],
)
def test_bad_network_urls_raise_value_error(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Modem(url)


def test_rfc2217_against_a_raw_port_is_a_clear_port_error(
    vm: VirtualModem, ser2net: Ser2net
) -> None:
    # A raw accepter never answers the COM-PORT request (and the modem ignores the bytes).
    ser2net.add("modem", vm.port, "raw")
    ser2net.start()
    raw = ser2net.url("modem").replace("socket://", "rfc2217://")
    with pytest.raises(PortError, match="no answer to the RFC 2217"):
        Modem(raw + "?timeout=1", timeout=5.0)


def test_nothing_listening_is_a_port_error() -> None:
    for scheme in ("socket", "rfc2217"):
        with pytest.raises(PortError, match="cannot connect"):
            Modem(f"{scheme}://127.0.0.1:{free_port()}", timeout=2.0)


def test_silent_tcp_server_times_out_instead_of_hanging() -> None:
    # Accepts and never says a word: the open fails within the modem timeout.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted: list[socket.socket] = []
    t = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    t.start()
    try:
        start = time.monotonic()
        with pytest.raises(ModemTimeout):
            Modem(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout=1.5)
        assert time.monotonic() - start < 10
    finally:
        t.join(5)
        for s in accepted:
            s.close()
        server.close()


# ----------------------------------------------------------------------------- link loss


@pytest.mark.parametrize("how", ["kill", "stop"])
@pytest.mark.parametrize("mode", ["raw", "rfc2217"])
def test_ser2net_restart_mid_session(
    vm: VirtualModem, ser2net: Ser2net, mode: str, how: str
) -> None:
    """ser2net dies under a connected client: PortError and on_disconnect, no hang; after
    ser2net is back a new Modem on the same URL works end to end."""
    ser2net.add("modem", vm.port, mode)
    ser2net.start()
    url = ser2net.url("modem")
    broker = host_port(vm.broker_url)
    causes: queue.Queue[int] = queue.Queue()
    topic = unique_topic()
    modem = Modem(url, timeout=10.0)
    try:
        client = modem.mqtt(new_id())
        client.on_disconnect = causes.put
        client.connect(*broker)
        client.subscribe(topic, qos=1)
        client.publish(topic, b"before", qos=1)
        assert client.wait_message(topic, timeout=10).payload == b"before"

        getattr(ser2net, how)()
        assert causes.get(timeout=15) == CAUSE_PORT_LOST
        assert not client.is_connected()
        start = time.monotonic()
        with pytest.raises(PortError):
            modem.command("AT", timeout=5)
        with pytest.raises(PortError):
            client.publish(topic, b"lost", qos=1)
        assert time.monotonic() - start < 5  # failed at once, did not wait for a deadline
    finally:
        modem.close()

    ser2net.wait_closed()
    ser2net.start()
    with Modem(url, timeout=10.0) as again:
        with again.mqtt(new_id()) as c:
            c.connect(*broker)
            c.subscribe(topic, qos=1)
            c.publish(topic, b"after restart", qos=1)
            assert c.wait_message(topic, timeout=10).payload == b"after restart"


def test_restart_while_a_command_waits(vm: VirtualModem, ser2net: Ser2net) -> None:
    """A command in flight when the link drops fails with PortError, not at its deadline."""
    ser2net.add("modem", vm.port, "rfc2217")
    ser2net.start()
    with Modem(ser2net.url("modem"), timeout=10.0) as modem:
        # The modem sits on the command for 6 s; the command's own deadline is 60 s.
        vm.set_response_delay(6)
        errors: queue.Queue[BaseException] = queue.Queue()
        before = vm.stats()["commands"]

        def run() -> None:
            try:
                modem.command("AT+CSQ", timeout=60)
            except BaseException as e:  # handed to the test thread
                errors.put(e)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        wait_until(lambda: vm.stats()["commands"] > before, timeout=10, what="command at modem")
        ser2net.kill()
        # Long before the command's deadline: the loss ends the wait.
        err = errors.get(timeout=20)
        assert isinstance(err, PortError), repr(err)
        t.join(5)
        vm.set_response_delay(0)


def test_virtual_modem_listener_close_is_a_port_loss(vm: VirtualModem) -> None:
    assert vm.tcp_url is not None
    causes: queue.Queue[int] = queue.Queue()
    with Modem(vm.tcp_url, timeout=10.0) as modem:
        with modem.mqtt(new_id()) as client:
            client.on_disconnect = causes.put
            client.connect(*host_port(vm.broker_url))
            vm.close()
            assert causes.get(timeout=15) == CAUSE_PORT_LOST
            with pytest.raises(PortError):
                modem.command("AT", timeout=5)


def test_virtual_modem_repr_and_tcp_url() -> None:
    with VirtualModem("sim7600") as plain:
        assert plain.tcp_url is None
        assert "tcp_url" not in repr(plain)
    with VirtualModem("sim7600", listen="127.0.0.1:0") as v:
        assert v.tcp_url is not None and v.tcp_url.startswith("socket://127.0.0.1:")
        assert v.tcp_url in repr(v)


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1", "localhost:0"])
def test_bad_listen_address_is_a_value_error(listen: str) -> None:
    with pytest.raises(ValueError, match="listen"):
        VirtualModem("a7600", listen=listen)


def test_listen_on_a_busy_port_is_a_port_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(PortError, match="cannot listen"):
            VirtualModem("a7600", listen=f"127.0.0.1:{port}")

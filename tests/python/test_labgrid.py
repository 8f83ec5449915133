"""modemqtt on labgrid: the driver, places held through a real coordinator, and the pytest
plugin under ``--lg-env`` with two xdist workers on two places.

Everything runs on 127.0.0.1: a labgrid-coordinator, two labgrid-exporters publishing virtual
modems' ptys through ser2net (started by the exporters, as labgrid does), places made with
labgrid-client. Skips without labgrid or ser2net, fails instead in CI
($MODEMQTT_REQUIRE_LABGRID).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import modemqtt
import pytest
from labgrid_helper import Lab, listeners, require_labgrid
from support import free_port, host_port, unique_topic, wait_until

TAGS = {"modemqtt": "cmqtt"}
RESERVE = ["--modem-lg-reserve", "modemqtt=cmqtt"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A coordinator, exporters exp1 (modem-a) and exp2 (modem-b), places modem-a and
    modem-b tagged modemqtt=cmqtt; one embedded broker behind both virtual modems."""
    require_labgrid()
    folder = tmp_path_factory.mktemp("lab")
    lab = Lab(folder)
    vms = [modemqtt.VirtualModem("a7600"), modemqtt.VirtualModem("a7600")]
    try:
        lab.start()
        lab.add_exporter("exp1", {"modem-a": vms[0].port})
        lab.add_exporter("exp2", {"modem-b": vms[1].port})
        lab.add_place("modem-a", "exp1/modem-a/*", TAGS)
        lab.add_place("modem-b", "exp2/modem-b/*", TAGS)
        lab.broker = vms[0].broker_url  # type: ignore[attr-defined]
        yield lab
    finally:
        lab.stop()
        for vm in vms:
            vm.close()


def write_env(folder: Path, lab: Lab, place: str = "modem-a", name: str = "env.yaml") -> Path:
    env = folder / name
    env.write_text(
        textwrap.dedent(f"""\
            targets:
              main:
                resources:
                  RemotePlace:
                    name: {place}
                drivers:
                  ModemDriver:
                    timeout: 10
            options:
              coordinator_address: {lab.address}
            """)
    )
    return env


def run_pytest(
    folder: Path, lab: Lab, *args: str, timeout: float = 240.0
) -> subprocess.CompletedProcess[str]:
    (folder / "pytest.ini").write_text("[pytest]\n")  # not the repository's configuration
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=folder,
        env={**lab.env(), "LAB_NOTES": str(folder / "notes.txt")},  # no PYTEST_XDIST_*
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def coordinator_places(lab: Lab) -> dict[str, modemqtt.labgrid.PlaceState]:
    from modemqtt.labgrid import Coordinator

    with Coordinator(lab.address) as c:
        return c.places()


SUITE = """
import os
import uuid

import pytest


def note(modem):
    with open(os.environ["LAB_NOTES"], "a") as f:
        f.write(f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')} {modem.port}\\n")


@pytest.mark.parametrize("n", range(4))
def test_round_trip(modem, mqtt_client, n):
    note(modem)
    topic = f"lab/{uuid.uuid4().hex}"
    mqtt_client.subscribe(topic, qos=1)
    mqtt_client.publish(topic, b"ping %d" % n, qos=1)
    assert mqtt_client.wait_message(topic, timeout=30).payload == b"ping %d" % n


@pytest.mark.modem(family="qmt")
def test_needs_a_quectel(modem):
    raise AssertionError("the a7600 is no Quectel: this test must be skipped")
"""


# ----------------------------------------------------------------------------- the driver


def test_driver_on_a_local_serial_port() -> None:
    """ModemDriver binds to a RawSerialPort (a SerialPort) without any coordinator;
    activating opens the modem, deactivating closes it."""
    require_labgrid()
    from labgrid import Target
    from labgrid.resource import RawSerialPort
    from modemqtt.labgrid import ModemDriver

    with modemqtt.VirtualModem("a7600") as vm:
        target = Target("local")
        RawSerialPort(target, None, port=vm.port, speed=115200)
        driver = ModemDriver(target, None, timeout=5)
        target.activate(driver)
        modem = driver.modem
        assert driver.url == vm.port
        assert modem.info().family == "cmqtt"
        host, port = host_port(vm.broker_url)
        with modem.mqtt("lg-local", 0) as client:
            client.connect(host, port)
            topic = unique_topic()
            client.subscribe(topic, qos=1)
            client.publish(topic, b"local", qos=1)
            assert client.wait_message(topic, timeout=10).payload == b"local"
        target.deactivate(driver)
        assert modem.closed
        with pytest.raises(modemqtt.ModemError, match="not active"):
            _ = driver.modem
        target.cleanup()


def test_driver_checks_its_settings_and_the_protocol() -> None:
    require_labgrid()
    from labgrid import Target
    from labgrid.resource import NetworkSerialPort
    from modemqtt.labgrid import ModemDriver, modem_url

    target = Target("checks")
    with pytest.raises(ValueError, match="timeout: must be a number of seconds > 0, got -1"):
        ModemDriver(target, "bad", timeout=-1)
    with pytest.raises(ValueError, match="baudrate: must be an integer between 50"):
        ModemDriver(target, "bad2", baudrate=7)
    raw = NetworkSerialPort(target, "raw", host="127.0.0.1", port=4001, protocol="raw")
    assert modem_url(raw, 3) == "socket://127.0.0.1:4001?timeout=3"
    telnet = NetworkSerialPort(target, "t", host="127.0.0.1", port=4002, protocol="rfc2217")
    assert modem_url(telnet) == "rfc2217://127.0.0.1:4002?timeout=5"
    odd = NetworkSerialPort(target, "odd", host="127.0.0.1", port=4003, protocol="ssh")
    with pytest.raises(ValueError, match="protocol: 'ssh' is not supported"):
        modem_url(odd)
    target.cleanup()


def test_driver_binds_to_a_usb_serial_port() -> None:
    """A USBSerialPort is a SerialPort: the driver binds to it; unplugged, it says so."""
    require_labgrid()
    from labgrid import Target
    from labgrid.resource.udev import USBSerialPort
    from modemqtt.labgrid import ModemDriver, modem_url

    target = Target("usb")
    port = USBSerialPort(target, "a7600", match={"ID_PATH": "pci-0000:00:14.0-usb-0:9:1.3"})
    driver = ModemDriver(target, None)
    assert driver.port is port
    with pytest.raises(ValueError, match="USBSerialPort 'a7600': no device path"):
        modem_url(port)
    target.cleanup()


# ----------------------------------------------------------------------------- the lab


def test_pytest_on_two_places_with_two_workers(lab: Lab, tmp_path: Path) -> None:
    """pytest --lg-env -n 2: each worker reserves and acquires its own place, and every
    test does its MQTT round trip through its worker's remote modem; the places are
    released at the end."""
    (tmp_path / "test_lab_suite.py").write_text(SUITE)
    env = write_env(tmp_path, lab)
    broker = lab.broker  # type: ignore[attr-defined]
    done = run_pytest(
        tmp_path, lab, "-n", "2", f"--lg-env={env}", *RESERVE, f"--mqtt-broker={broker}"
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "4 passed, 1 skipped" in out, out
    assert "needs MQTT family qmt, the modem has cmqtt" in out, out
    notes = (tmp_path / "notes.txt").read_text().split()
    workers, ports = set(notes[0::2]), set(notes[1::2])
    assert workers == {"gw0", "gw1"}, notes
    assert len(ports) == 2 and all(p.startswith("rfc2217://127.0.0.1:") for p in ports), notes
    places = coordinator_places(lab)
    assert all(p.acquired is None for p in places.values()), places


def test_one_process_acquires_the_named_place_and_releases_it(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text(
        "def test_place(modem_place, modem):\n"
        "    assert modem_place == 'modem-b'\n"
        "    assert modem.info().family == 'cmqtt'\n"
    )
    env = write_env(tmp_path, lab, place="modem-b")
    done = run_pytest(tmp_path, lab, f"--lg-env={env}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert coordinator_places(lab)["modem-b"].acquired is None


def test_place_acquired_by_someone_else_names_the_holder(lab: Lab, tmp_path: Path) -> None:
    from modemqtt.labgrid import Coordinator, PlaceBusyError

    lab.client("-p", "modem-a", "acquire", user="alice")
    try:
        holder = coordinator_places(lab)["modem-a"].acquired
        assert holder is not None and holder.endswith("/alice")
        with Coordinator(lab.address) as c, pytest.raises(PlaceBusyError) as err:
            c.acquire("modem-a")
        assert err.value.holder == holder
        assert f"place 'modem-a' is already acquired by {holder}" in str(err.value)

        # The plugin says the same, and the run fails instead of touching alice's modem.
        (tmp_path / "test_busy.py").write_text("def test_x(modem):\n    pass\n")
        env = write_env(tmp_path, lab, place="modem-a")
        done = run_pytest(tmp_path, lab, f"--lg-env={env}", "--mqtt-broker=mqtt://127.0.0.1:1")
        out = done.stdout + done.stderr
        assert done.returncode != 0, out
        assert f"place 'modem-a' is already acquired by {holder}" in out, out
    finally:
        lab.client("-p", "modem-a", "release", user="alice")


def test_several_workers_need_a_reservation(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x(modem):\n    pass\n")
    env = write_env(tmp_path, lab)
    done = run_pytest(tmp_path, lab, "-n", "2", f"--lg-env={env}", "--mqtt-broker=mqtt://x:1")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "2 xdist workers would share the place 'modem-a'" in out, out


def test_exporter_gone_mid_test(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exporter host dies (exporter and its ser2net killed) while a client is connected:
    on_disconnect(-1) at once and PortError for the next command."""
    from labgrid import Target
    from labgrid.resource import RemotePlace
    from modemqtt.labgrid import Coordinator, ModemDriver

    monkeypatch.setenv("LG_COORDINATOR", lab.address)  # as in docs/lab.md's Python example
    with modemqtt.VirtualModem("a7600") as vm:
        exporter = lab.add_exporter("exp3", {"modem-c": vm.port})
        lab.add_place("modem-c", "exp3/modem-c/*", {"modemqtt": "spare"})
        with Coordinator() as c, c.acquire("modem-c") as place:
            target = Target(place.name)
            RemotePlace(target, place.name)
            driver = ModemDriver(target, None, timeout=10)
            target.activate(driver)
            assert driver.url is not None and driver.url.startswith("rfc2217://127.0.0.1:")
            # the exporter's ser2net listens on loopback only (the lab's wrapper)
            assert listeners(host_port(driver.url)[1]) == ["0100007F"]
            causes: list[int] = []
            host, port = host_port(vm.broker_url)
            client = driver.modem.mqtt("lg-gone", 0)
            client.on_disconnect = causes.append
            client.connect(host, port)
            exporter.kill()
            wait_until(lambda: -1 in causes, timeout=30, what="on_disconnect(-1)")
            with pytest.raises(modemqtt.PortError):
                driver.modem.command("AT", timeout=5)
            client.close(timeout=2)
            target.deactivate(driver)
            target.cleanup()


def test_coordinator_unreachable(lab: Lab, tmp_path: Path) -> None:
    from modemqtt.labgrid import Coordinator, CoordinatorError

    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(CoordinatorError, match=f"labgrid coordinator at {dead}"):
        Coordinator(dead, timeout=5)

    (tmp_path / "test_x.py").write_text("def test_x(modem):\n    pass\n")
    env = write_env(tmp_path, lab)
    done = run_pytest(
        tmp_path,
        lab,
        f"--lg-env={env}",
        f"--lg-coordinator={dead}",
        "--modem-lg-timeout=5",
        "--mqtt-broker=mqtt://127.0.0.1:1",
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert f"labgrid coordinator at {dead}" in out, out

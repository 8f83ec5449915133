"""Fixtures shared by the Python suites.

This file does not import modemqtt at module level, so the helpers' own tests run without the
extension.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from scripted_modem import ScriptedModem
from support import free_port, host_port, require_exe, run_mosquitto

if TYPE_CHECKING:
    from modemqtt import Modem, VirtualModem

MOSQUITTO_MISSING = "mosquitto not installed: apt-get install mosquitto"


@pytest.fixture(autouse=True)
def _pytester_without_labgrid(request: pytest.FixtureRequest) -> None:
    """pytester runs pytest again inside this process, and labgrid's pytest plugin (loaded
    by its entry point when the labgrid extra is installed) can start only once per process:
    inner runs go without it. The labgrid suites run pytest in a subprocess instead."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # first: it clears PYTEST_ADDOPTS when made
        mp = request.getfixturevalue("monkeypatch")
        mp.setenv("PYTEST_ADDOPTS", "-p no:labgrid")


@pytest.fixture(scope="session")
def mosquitto_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private mosquitto on 127.0.0.1 for the whole session: yields "mqtt://127.0.0.1:PORT"."""
    exe = require_exe("mosquitto", MOSQUITTO_MISSING)
    folder = tmp_path_factory.mktemp("mosquitto")
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "log_dest stderr\n"
        "log_type error\n"
        "log_type warning\n"
        "log_type notice\n"
    )
    with run_mosquitto(exe, conf, [port]):
        yield f"mqtt://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def mosquitto_clients() -> None:
    """Skip (or fail in CI) when mosquitto_sub / mosquitto_pub are missing."""
    reason = "mosquitto clients not installed: apt-get install mosquitto-clients"
    require_exe("mosquitto_sub", reason)
    require_exe("mosquitto_pub", reason)


@pytest.fixture
def broker(vm: VirtualModem) -> tuple[str, int]:
    """(host, port) of the module's ``vm`` fixture's broker."""
    return host_port(vm.broker_url)


@pytest.fixture
def modem(vm: VirtualModem) -> Iterator[Modem]:
    """A Modem on the module's ``vm`` fixture."""
    from modemqtt import Modem

    with Modem(vm.port, timeout=10.0) as m:
        yield m


@pytest.fixture
def scripted_modem() -> Iterator[ScriptedModem]:
    """A fresh ScriptedModem (no rules: every AT command gets OK). Add rules with ``.on()``."""
    sm = ScriptedModem()
    try:
        yield sm
    finally:
        sm.close()

"""Host names on the virtual modem's network (docs/virtual-modem.md, Hosts): only loopback,
``broker.example.org`` and the names passed in ``hosts=`` resolve; any other name fails with
the family's DNS error, any other address with its connect error. Every CMQTT and QMT
profile, through the public API."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from modemqtt import Modem, MqttError, VirtualModem
from support import free_port, host_port, new_id, run_cli

# (profile, DNS error, connect error) of each family: CMQTT seeds/003 §2.2.1 (25, 3),
# Quectel +QMTOPEN results (4 failed to parse domain name, 5 network connection error);
# SIMCom SM* has no codes (modemqtt's code 1 for its bare ERROR).
PROFILES = [
    ("a7600", 25, 3),
    ("sim7600", 25, 3),
    ("sim7028", 25, 3),
    ("ec20", 4, 5),
    ("ec25", 4, 5),
    ("eg91", 4, 5),
    ("bg96", 4, 5),
    # SIMCom SM*: AT+SMCONN answers a bare ERROR whatever failed (ATM V1.05 §17.2.3).
    ("sim7080", 1, 1),
    # ESP-AT gives no reason: +MQTTDISCONNECTED:0 then ERROR either way (0x600B here).
    ("esp32-at", 0x600B, 0x600B),
]


def _connect_code(modem: Modem, host: str, port: int) -> int | None:
    """None when the connect succeeded, else the MqttError code."""
    with modem.mqtt(new_id("hosts")) as client:
        try:
            client.connect(host, port, timeout=20)
        except MqttError as e:
            assert e.operation == "connect"
            return e.code
        client.disconnect()
        return None


@pytest.mark.parametrize(("profile", "dns", "refused"), PROFILES)
def test_hosts_resolve_only_what_is_mapped(profile: str, dns: int, refused: int) -> None:
    closed = free_port()
    hosts: dict[str, str | None] = {"broker.lab": None, "closed.lab": f"127.0.0.1:{closed}"}
    with VirtualModem(profile, hosts=hosts) as vm, Modem(vm.port, timeout=20) as modem:
        _, port = host_port(vm.broker_url)
        assert _connect_code(modem, "127.0.0.1", port) is None
        assert _connect_code(modem, "broker.example.org", 1883) is None
        assert _connect_code(modem, "Broker.Lab", 8883) is None
        # A typo of a mapped name fails as it would on a real network.
        assert _connect_code(modem, "brokr.lab", 1883) == dns
        assert _connect_code(modem, "closed.lab", 1883) == refused
        assert _connect_code(modem, "192.0.2.1", 1883) == refused


def test_without_a_mapping_only_the_documented_name_resolves() -> None:
    with VirtualModem("a7600") as vm, Modem(vm.port, timeout=20) as modem:
        assert _connect_code(modem, "broker.example.org", 1883) is None
        assert _connect_code(modem, "test.mosquitto.org", 1883) == 25


@pytest.mark.parametrize(
    ("hosts", "words"),
    [
        ({"": None}, "name is empty"),
        ({"tcp://broker.lab": None}, "bare host name"),
        ({"broker.lab:1883": None}, "must not carry a port"),
        ({"broker.lab": "127.0.0.1:0"}, "port from 1 to 65535"),
        ({"broker.lab": "127.0.0.1:http"}, "port from 1 to 65535"),
    ],
)
def test_a_bad_mapping_raises_value_error_naming_hosts(
    hosts: dict[str, str | None], words: str
) -> None:
    with pytest.raises(ValueError, match="hosts") as err:
        VirtualModem("a7600", hosts=hosts)
    assert words in str(err.value)


def test_cli_sim_host_option_maps_names() -> None:
    argv = [sys.executable, "-m", "modemqtt.cli", "sim", "a7600", "--json"]
    argv += ["--host", "broker.lab", "--host", f"closed.lab=127.0.0.1:{free_port()}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        doc = json.loads(proc.stdout.readline())
        with Modem(doc["port"], timeout=20) as modem:
            assert _connect_code(modem, "broker.lab", 1883) is None
            assert _connect_code(modem, "closed.lab", 1883) == 3
            assert _connect_code(modem, "brokr.lab", 1883) == 25
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_cli_sim_refuses_a_bad_host_option() -> None:
    done = run_cli("sim", "a7600", "--host", "broker.lab=127.0.0.1:0")
    assert done.returncode != 0
    assert "hosts" in done.stderr and "1 to 65535" in done.stderr, done.stderr

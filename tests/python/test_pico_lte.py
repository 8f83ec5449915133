"""A driver nobody here wrote against the virtual Quectel modems: Sixfab's pico_lte SDK
(MicroPython, written for the BG95 on the Pico LTE board), pinned unmodified in
tests/thirdparty/pico_lte (README there), run on CPython through tests/python/micropython_shim.py.

Its MQTT flow runs as its examples run it: network checks, PDP context, open, connect,
subscribe, publish, read; what reaches the broker is checked byte for byte with paho-mqtt.
Where pico_lte itself is wrong, the test says so and checks the wire, not pico_lte's parse:

- ``read_messages()`` splits a ``+QMTRECV`` line on every comma, so a payload with a comma
  comes back cut (the line on the wire is whole);
- ``set_clean_session_config()`` sends ``AT+QMTCFG="clean_session",...``: the module's
  parameter is ``"session"``, so the module answers ``ERROR``;
- ``set_will_config()`` sends the will fields with the flag off (``"will",0,0,0,0,"t","m"``),
  which the syntax allows and the module takes.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import micropython_shim
import modemqtt
import pytest
from support import Paho, host_port, unique_topic

SDK = Path(__file__).resolve().parents[1] / "thirdparty" / "pico_lte"
# Every wait of one test ends by then (the shim raises in the driver's polling loop).
DEADLINE_S = 90.0
# pico_lte handles a result URC only when it follows the OK after a network round trip, as on
# a real module (see micropython_shim): the flow runs with the realistic network timing.
TIMING = "realistic"

# pico_lte's Status.SUCCESS (its module is imported only once the shim is in place).
SUCCESS = 0


@pytest.fixture
def pico(
    profile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, modemqtt.VirtualModem, str]]:
    """(PicoLTE instance, virtual modem, client id) with the broker in pico_lte's config.json."""
    with modemqtt.VirtualModem(profile, timing=TIMING) as vm:
        assert vm.timing == modemqtt.NetworkTiming.preset(TIMING, profile)
        host, port = host_port(vm.broker_url)
        client_id = f"pico-{profile}-{os.getpid()}"
        # pico_lte reads config.json from the working directory, as on the board.
        (tmp_path / "config.json").write_text(
            f'{{"mqtts": {{"host": "{host}", "port": {port}, "client_id": "{client_id}"}}}}'
        )
        monkeypatch.chdir(tmp_path)
        monkeypatch.syspath_prepend(str(SDK))
        micropython_shim.install(vm.port, time.monotonic() + DEADLINE_S)
        try:
            from pico_lte.common import cache
            from pico_lte.core import PicoLTE

            # Its step cache is module-level state: start each test from a clean one.
            cache.states.clear()
            yield PicoLTE(), vm, client_id
        finally:
            micropython_shim.uninstall()


def command(pico: Any, line: str) -> list[str]:
    """One raw command through pico_lte's own AT layer; the response lines."""
    result = pico.atcom.send_at_comm(line)
    assert result["status"] == SUCCESS, (line, result)
    return result["response"]


@pytest.mark.parametrize("profile", ["bg96", "ec20"])
def test_pico_lte_mqtt_flow(pico: tuple[Any, modemqtt.VirtualModem, str], profile: str) -> None:
    from pico_lte.utils.status import Status

    lte, vm, client_id = pico
    host, port = host_port(vm.broker_url)
    model = {"bg96": "BG96", "ec20": "EC20F"}[profile]
    up, down, will = (unique_topic("pico/up"), unique_topic("pico/down"), unique_topic("pico/w"))

    # Identity as a Quectel module prints it.
    ati = command(lte, "ATI")
    assert ati[:2] == ["Quectel", model] and ati[2].startswith("Revision: "), ati
    assert ati[3] == "OK", ati
    iccid = lte.base.get_sim_iccid()
    assert iccid["status"] == Status.SUCCESS and re.fullmatch(r"\d{19,20}", iccid["value"])

    # A recovery path: radio off, registration and bearer gone, MQTT cannot open.
    command(lte, "AT+CFUN=0")
    assert "+CREG: 0,0" in command(lte, "AT+CREG?")
    assert "+CGACT: 1,0" in command(lte, "AT+CGACT?")
    opened = lte.mqtt.open_connection(host, port)
    assert opened["status"] == Status.ERROR and "+QMTOPEN: 0,3" in opened["response"], opened
    command(lte, "AT+CFUN=1")

    # pico_lte's network set-up: registration, then the PDP context (down since the radio went
    # off: its check times out on "+CGACT: 1,0", then QICSGP, QIDEACT, QIACT, CGACT? run).
    assert lte.network.register_network()["status"] == Status.SUCCESS
    assert lte.network.get_pdp_ready()["status"] == Status.SUCCESS
    sent, _ = micropython_shim.wire()
    for step in (b'AT+QICSGP=1,1,"super","","",0\r', b"AT+QIDEACT=1\r", b"AT+QIACT=1\r"):
        assert step in sent
    assert any(line.startswith("+QIACT: 1,1,") for line in command(lte, "AT+QIACT?"))
    assert '+QICSGP: 1,"super","","",0' in command(lte, "AT+QICSGP=1")

    # pico_lte's configuration calls: the will with the flag off and the trailing fields is
    # taken; its "clean_session" is not a QMTCFG parameter (the module's is "session").
    assert lte.mqtt.set_will_config("x", "y")["status"] == Status.SUCCESS
    assert lte.mqtt.set_clean_session_config()["status"] == Status.ERROR
    assert lte.mqtt.set_will_config(will, "gone", will_flag=1, will_qos=1)["status"] == SUCCESS

    with Paho(vm.broker_url) as peer:
        peer.subscribe(up, qos=1)
        peer.subscribe(will, qos=1)

        assert lte.mqtt.open_connection()["status"] == Status.SUCCESS
        assert lte.mqtt.connect_broker()["status"] == Status.SUCCESS
        assert lte.mqtt.is_connected_to_broker()["status"] == Status.SUCCESS
        assert lte.mqtt.subscribe_topics([(down, 1)])["status"] == Status.SUCCESS

        # Uplink, byte-exact at the broker (pico_lte types it after the prompt, ends with Ctrl-Z).
        payload = '{"t":21.5,"h":40,"id":"' + client_id + '"}'
        assert lte.mqtt.publish_message(payload, up, qos=1)["status"] == Status.SUCCESS
        msg = peer.get(timeout=15)
        assert (msg.topic, msg.payload, msg.qos) == (up, payload.encode(), 1)

        # Downlink: the line on the wire carries the payload whole...
        sent_down = b'{"cmd":"set","v":[1,2,3]}'
        peer.publish(down, sent_down, qos=1)
        line = re.compile(
            rb'\+QMTRECV: 0,(\d+),"'
            + re.escape(down.encode())
            + rb'","'
            + re.escape(sent_down)
            + rb'"\r\n'
        )
        # pico_lte finds a +QMTRECV only in the answer to its AT+QMTRECV?: one that is on the
        # line before it sends that (a +QMTRECV arriving during its read lands after the OK,
        # and it drops what follows an OK). So the message is awaited on the line first.
        deadline = time.monotonic() + 20
        while not line.search(micropython_shim.wire()[1]):
            assert time.monotonic() < deadline, "no +QMTRECV for the downlink"
            micropython_shim.pull()
            time.sleep(0.05)
        parsed: list[dict[str, Any]] = lte.mqtt.read_messages()["messages"]
        # ... and pico_lte's parse cuts it at its first comma (a pico_lte bug).
        assert [m["topic"] for m in parsed] == [down]
        assert parsed[0]["message"] == '{"cmd":"set'

        # The link dies without DISCONNECT: the broker publishes the will set through pico_lte.
        vm.drop_link(0, 1)
        msg = peer.get(timeout=15)
        assert (msg.topic, msg.payload) == (will, b"gone")
    assert sys.modules["machine"].UART.transcript  # the shim carried the whole exchange

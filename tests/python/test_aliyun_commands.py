"""Every ``AT+CM*`` / ``AT+CC*`` command of both manuals, success and failure, typed raw at
the virtual modems: sim7600-aliyun answers as seeds/000 prints, sim7000-aliyun as seeds/002."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest
from modemqtt import CommandError, Modem, VirtualModem

PK, DN, DS = "CwlekguDcv3", "device", "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu"
AUTH = f'AT+CMAUTH="{PK}","{DN}","{DS}"'
INIT = f'AT+CCINIT="{PK}","{DN}","{DS}"'


class Raw:
    """A modem driven by raw lines; URCs are collected."""

    def __init__(self, modem: Modem) -> None:
        self.modem = modem
        self.urcs: queue.Queue[str] = queue.Queue()
        modem.on_urc(self.urcs.put)

    def __call__(self, line: str) -> tuple[list[str], str]:
        try:
            r = self.modem.command(line, timeout=10)
            return list(r.lines), r.final
        except CommandError as e:
            return [], str(e).split(": ", 1)[1]

    def urc(self, timeout: float = 5.0) -> str:
        return self.urcs.get(timeout=timeout)

    def yield_for(self, window_ms: int, deadline: float = 10.0) -> str:
        """``AT+CMYIELD=<window_ms>`` until a report comes (at most `deadline` seconds): an
        acknowledgement the broker sends after one window is printed in a later one, as on
        the module."""
        import time

        end = time.monotonic() + deadline
        while True:
            assert self(f"AT+CMYIELD={window_ms}")[1] == "OK"
            try:
                return self.urcs.get(timeout=window_ms / 1000 + 0.2)
            except queue.Empty:
                if time.monotonic() >= end:
                    raise AssertionError(f"no +CMYIELD report within {deadline} s") from None

    def no_urc(self) -> None:
        assert self.urcs.empty(), self.urcs.get_nowait()


def raw_for(profile: str, bearer: bool = True) -> Iterator[Raw]:
    """Every manual example starts with the bearer: seeds/000 §5.1 ``AT+CAUTONET=1`` (on by
    default in the virtual sim7600-aliyun), seeds/002 §3 ``AT+CNACT=1,"cmnet"``."""
    with VirtualModem(profile) as vm, Modem(vm.port, timeout=10.0) as m:
        raw = Raw(m)
        if bearer and profile == "sim7000-aliyun":
            assert raw('AT+CNACT=1,"cmnet"') == ([], "OK")
            assert raw.urc() == "+APP PDP: ACTIVE"
        yield raw


@pytest.fixture
def v1() -> Iterator[Raw]:
    yield from raw_for("sim7600-aliyun")


@pytest.fixture
def v2() -> Iterator[Raw]:
    yield from raw_for("sim7000-aliyun")


@pytest.fixture(params=["sim7600-aliyun", "sim7000-aliyun"])
def both(request: pytest.FixtureRequest) -> Iterator[Raw]:
    yield from raw_for(request.param)


def test_test_forms(both: Raw) -> None:
    assert both("AT+CMAUTH=?") == (['+CMAUTH: "productKey","deviceName","deviceSecret"'], "OK")
    assert both("AT+CMPARA=?") == (['+CMPARA: "MQTTParamTag","MQTTParamValue"'], "OK")
    assert both("AT+CMPUB=?") == (['+CMPUB: "topic",qos,"message"'], "OK")
    assert both("AT+CMSUB=?") == (['+CMSUB: "topic",qos'], "OK")
    assert both("AT+CMUNSUB=?") == (['+CMUNSUB: "topic"'], "OK")
    for cmd in ("CMCONN", "CMYIELD", "CMDISCONN", "CCAUTH", "CCSEND", "CCYIELD"):
        assert both(f"AT+{cmd}=?") == ([], "OK"), cmd
    assert both("AT+CCINIT=?") == (['+CCINIT: "productKey","deviceName","deviceSecret"'], "OK")


def test_revision_specific_commands(v1: Raw, v2: Raw) -> None:
    assert v1("AT+CMAUTOYIELD=?")[1] == "ERROR"
    assert v1("AT+CMSTATUS?")[1] == "ERROR"
    assert v2("AT+CMAUTOYIELD=?") == ([], "OK")
    assert v2("AT+CMSTATUS?") == (["+CMSTATUS: 0"], "OK")
    assert v1("AT+CCDEINIT=?")[0] == ['+CCDEINIT: "productKey","deviceName","deviceSecret"']
    assert v2("AT+CCDEINIT=?") == ([], "OK")
    # CMQTT is not on this firmware.
    assert v1("AT+CMQTTSTART")[1] == "ERROR"


def test_cmauth(both: Raw) -> None:
    assert both(AUTH) == ([], "OK")
    lines, final = both("AT+CMAUTH?")
    assert final == "OK" and lines == [f'+CMAUTH: "{PK}","{DN}","{DS}"']
    assert both(f'AT+CMAUTH="{"k" * 12}","{DN}","{DS}"')[1] == "ERROR"
    assert both(f'AT+CMAUTH="{PK}","{"d" * 33}","{DS}"')[1] == "ERROR"
    assert both(f'AT+CMAUTH="{PK}","{DN}","{"s" * 65}"')[1] == "ERROR"
    assert both(f'AT+CMAUTH="{PK}","{DN}"')[1] == "ERROR"


def test_cmpara_v1(v1: Raw) -> None:
    assert v1('AT+CMPARA="TIMEOUT",3000') == ([], "OK")
    assert v1('AT+CMPARA="TIMEOUT",20000')[1] == "ERROR"  # 500-5000 in seeds/000
    assert v1('AT+CMPARA="TIMEOUT",499')[1] == "ERROR"
    assert v1('AT+CMPARA="CLEAN",1') == ([], "OK")
    assert v1('AT+CMPARA="CLEAN",2')[1] == "ERROR"
    assert v1('AT+CMPARA="KEEPALIVE",180000') == ([], "OK")
    assert v1('AT+CMPARA="KEEPALIVE",59999')[1] == "ERROR"
    assert v1('AT+CMPARA="MQTTVERSION",3') == ([], "OK")
    assert v1('AT+CMPARA="MQTTVERSION",5')[1] == "ERROR"
    assert v1('AT+CMPARA="TIM"EOUT",3000')[1] == "ERROR"
    assert v1("AT+CMPARA?") == (
        ['+CMPARA: "TIMEOUT":3000,"CLEAN":1,"KEEPALIVE":180000,"MQTTVERSION":3'],
        "OK",
    )


def test_cmpara_v2(v2: Raw) -> None:
    assert v2("AT+CMPARA?") == (['+CMPARA: "TIMEOUT":30000,"CLEAN":0,"KEEPALIVE":60000'], "OK")
    assert v2('AT+CMPARA="TIMEOUT",180000') == ([], "OK")  # 500-180000 in seeds/002
    assert v2('AT+CMPARA="TIMEOUT",180001')[1] == "ERROR"
    assert v2('AT+CMPARA="MQTTVERSION",4')[1] == "ERROR"


def test_mqtt_commands_before_connect(both: Raw) -> None:
    for line in (
        f'AT+CMPUB="/{PK}/{DN}/update",0,"x"',
        f'AT+CMSUB="/{PK}/{DN}/get",1',
        f'AT+CMUNSUB="/{PK}/{DN}/get"',
        "AT+CMYIELD",
        "AT+CMDISCONN",
    ):
        assert both(line)[1] == "+CME ERROR: -2", line
    # CMCONN without CMAUTH fails.
    assert both("AT+CMCONN")[1] in ("ERROR", "+CME ERROR: -14")


def test_manual_mqtt_sample(both: Raw) -> None:
    """Section 5.1 of seeds/000 / section 3 of seeds/002."""
    topic = f"/{PK}/{DN}/get"
    assert both(AUTH)[1] == "OK"
    assert both('AT+CMPARA="KEEPALIVE",180000')[1] == "OK"
    assert both('AT+CMPARA="CLEAN",0')[1] == "OK"
    assert both("AT+CMCONN")[1] == "OK"
    assert both(f'AT+CMSUB="{topic}",1')[1] == "OK"
    assert both("AT+CMYIELD=2000")[1] == "OK"
    assert both.urc() == "+CMYIELD: 3"
    assert both(f'AT+CMPUB="{topic}",1,"hello"')[1] == "OK"
    assert both("AT+CMYIELD=2000")[1] == "OK"
    assert {both.urc(), both.urc()} == {"+CMYIELD: 9", f'+CMYIELD: 12,"{topic}","hello"'}
    assert both(f'AT+CMUNSUB="{topic}"')[1] == "OK"
    assert both("AT+CMYIELD")[1] == "OK"
    assert both.urc() == "+CMYIELD: 6"
    assert both("AT+CMYIELD=9")[1] == "ERROR"  # 10-120000
    assert both("AT+CMYIELD=120001")[1] == "ERROR"
    # Already connected: a failed AT+CMCONN, as each manual prints a failure (seeds/000 §3.3
    # "If failed: ERROR"; seeds/002 §1.3 "+CME ERROR: <err>", -27 MQTT_STATE_ERROR).
    assert both("AT+CMCONN")[1] in ("ERROR", "+CME ERROR: -27")
    assert both(f'AT+CMPUB="/{PK}/+/x",0,"x"')[1] == "+CME ERROR: -41"
    assert both(f'AT+CMPUB="{topic}",2,"x"')[1] == "ERROR"
    assert both(f'AT+CMPUB="{topic}",0,x')[1] == "ERROR"
    assert both(f'AT+CMPUB="{topic}",0,"unterminated')[1] == "ERROR"
    assert both(f'AT+CMSUB="{topic}",2')[1] == "ERROR"
    assert both(f'AT+CMSUB="{"t" * 160}",1')[1] == "ERROR"
    assert both("AT+CMUNSUB=")[1] == "ERROR"
    assert both("AT+CMDISCONN")[1] == "OK"
    assert both("AT+CMDISCONN")[1] == "+CME ERROR: -2"


def test_cmpub_takes_no_quote_inside(both: Raw) -> None:
    """seeds/000 §3.4: "<topic>和<message>输入参数两边需带"，如"abc"，中间不能带"，如"a"bc"" —
    no quote inside the message, escaped or not (only AT+CCSEND's example escapes one)."""
    topic = f"/{PK}/{DN}/get"
    both(AUTH)
    both("AT+CMCONN")
    both(f'AT+CMSUB="{topic}",0')
    assert both.yield_for(200) == "+CMYIELD: 3"
    assert both(f'AT+CMPUB="{topic}",0,"{{\\"light\\":\\"open\\"}}"')[1] == "ERROR"
    assert both(f'AT+CMPUB="{topic}",0,"a"bc"')[1] == "ERROR"
    assert both(f'AT+CMPUB="{topic}",0,"light:open"')[1] == "OK"
    assert both.yield_for(500) == f'+CMYIELD: 12,"{topic}","light:open"'


def test_cmconn_needs_the_bearer_v1() -> None:
    """seeds/000 §5.1 starts with ``AT+CAUTONET=1(重启模块后生效)``: saved, effective after a
    restart. Without it AT+CMCONN fails with the manual's plain ERROR (§3.3)."""
    with VirtualModem("sim7600-aliyun") as vm, Modem(vm.port, timeout=10.0) as m:
        raw = Raw(m)
        assert raw("AT+CAUTONET?") == (["+CAUTONET: 1"], "OK")
        assert raw("AT+CAUTONET=0") == ([], "OK")
        assert raw(AUTH)[1] == "OK"
        assert raw("AT+CMCONN")[1] == "OK", "effective only after a restart"
        assert raw("AT+CMDISCONN")[1] == "OK"
        vm.reboot()
        while raw.urc(timeout=10) != "PB DONE":  # the boot lines, each with a deadline
            pass
        assert raw("AT+CAUTONET?") == (["+CAUTONET: 0"], "OK")
        assert raw(AUTH)[1] == "OK"
        assert raw("AT+CMCONN")[1] == "ERROR"


def test_cmconn_needs_the_bearer_v2() -> None:
    """seeds/002 §3 starts with ``AT+CNACT=1,"cmnet"`` / ``+APP PDP: ACTIVE``; without the
    bearer AT+CMCONN fails (+CME ERROR: -14, MQTT_NETWORK_ERROR of seeds/000's tables)."""
    gen = raw_for("sim7000-aliyun", bearer=False)
    raw = next(gen)
    try:
        assert raw("AT+CNACT?") == (['+CNACT: 0,"0.0.0.0"'], "OK")
        assert raw(AUTH)[1] == "OK"
        assert raw("AT+CMCONN")[1] == "+CME ERROR: -14"
        assert raw('AT+CNACT=1,"cmnet"') == ([], "OK")
        assert raw.urc() == "+APP PDP: ACTIVE"
        assert raw("AT+CNACT?") == (['+CNACT: 1,"10.181.182.177"'], "OK")
        assert raw("AT+CMCONN")[1] == "OK"
        assert raw("AT+CNACT=0") == ([], "OK")
        assert raw.urc() == "+APP PDP: DEACTIVE"
    finally:
        gen.close()


def test_cmstatus_and_autoyield_v2(v2: Raw) -> None:
    topic = f"/{PK}/{DN}/get"
    v2(AUTH)
    assert v2("AT+CMCONN")[1] == "OK"
    assert v2("AT+CMSTATUS?") == (["+CMSTATUS: 1"], "OK")
    assert v2("AT+CMAUTOYIELD=181")[1] == "ERROR"
    assert v2("AT+CMAUTOYIELD=1,9")[1] == "ERROR"
    assert v2("AT+CMAUTOYIELD=1,60001")[1] == "ERROR"
    assert v2("AT+CMAUTOYIELD=1,100") == ([], "OK")
    assert v2(f'AT+CMSUB="{topic}",1')[1] == "OK"
    assert v2.urc(timeout=5) == "+CMYIELD: 3"
    assert v2("AT+CMAUTOYIELD=0") == ([], "OK")
    assert v2("AT+CMDISCONN")[1] == "OK"
    assert v2("AT+CMSTATUS?") == (["+CMSTATUS: 0"], "OK")


def test_coap_v1(v1: Raw) -> None:
    """Section 5.2 of seeds/000: results print before OK."""
    assert v1("AT+CCAUTH")[1] == "+CME ERROR: -1"  # no CoAP object
    assert v1("AT+CCINIT?")[1] == "ERROR"
    assert v1(f'AT+CCINIT="{"k" * 12}","{DN}","{DS}"')[1] == "ERROR"
    assert v1(INIT) == ([], "OK")
    assert v1("AT+CCINIT?") == ([f'+CCINIT: "{PK}","{DN}","{DS}"'], "OK")
    assert v1('AT+CCSEND="update","{}",2000')[1] == "+CME ERROR: -5"  # not authed
    assert v1("AT+CCAUTH=60001")[1] == "ERROR"
    assert v1("AT+CCAUTH=2000") == (["+CCAUTH: 0"], "OK")
    assert v1('AT+CCSEND="update","{\\"light\\":\\"open\\"}",2000') == ([], "OK")
    assert v1.urc() == '+CCRECV: 0,"0x45"'  # before OK, but not a +CCSEND line
    assert v1('AT+CCSEND="update","{}"')[1] == "ERROR"  # timeout is required in seeds/000
    assert v1(f'AT+CCSEND="{"t" * 65}","{{}}",2000')[1] == "ERROR"
    assert v1(f'AT+CCSEND="update","{"x" * 1025}",2000')[1] == "+CME ERROR: -7"
    assert v1("AT+CCAUTH=0") == ([], "OK")
    assert v1("AT+CCYIELD") == ([], "OK")  # its report is not a +CCYIELD line
    assert v1.urc() == "+CCAUTH: 0"
    assert v1('AT+CCSEND="update","{}",0') == ([], "OK")
    assert v1("AT+CCYIELD") == ([], "OK")  # its report is not a +CCYIELD line
    assert v1.urc() == '+CCRECV: 0,"0x45"'
    assert v1("AT+CCYIELD") == ([], "OK")
    assert v1("AT+CCDEINIT") == ([], "OK")
    assert v1("AT+CCDEINIT")[1] == "ERROR"
    assert v1("AT+CCYIELD")[1] == "+CME ERROR: -1"


def test_coap_v2(v2: Raw) -> None:
    """Section 2 of seeds/002: results come as URCs after OK."""
    assert v2("AT+CCAUTH") == ([], "OK")
    assert v2.urc() == "+CCAUTH: 6"  # not initialised
    assert v2(INIT) == ([], "OK")
    assert v2('AT+CCSEND="update","{}"') == ([], "OK")
    assert v2.urc() == "+CCRECV: 12"  # not authenticated
    assert v2("AT+CCAUTH") == ([], "OK")
    assert v2.urc() == "+CCAUTH: 0"
    assert v2('AT+CCSEND="update","{\\" light \\":\\"open\\"}"') == ([], "OK")
    assert v2.urc() == '+CCRECV: 0,"0x45",""'
    assert v2(f'AT+CCSEND="update","{"x" * 1025}",100') == ([], "OK")
    assert v2.urc() == "+CCRECV: 14"
    assert v2('AT+CCSEND="update","{}",0') == ([], "OK")
    assert v2("AT+CCYIELD") == ([], "OK")  # its report is not a +CCYIELD line
    assert v2.urc() == '+CCRECV: 0,"0x45",""'
    assert v2("AT+CCDEINIT") == ([], "OK")
    assert v2("AT+CCDEINIT")[1] == "ERROR"
    assert v2("AT+CCYIELD")[1] == "ERROR"
    v2.no_urc()

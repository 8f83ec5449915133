"""The Modem core (AT engine) against a ScriptedModem on a real pty.

The Modem may send setup commands at open (ATE0 and others): the scripted modem answers OK to
any AT command it has no rule for, and the tests assert only on what they care about.
"""

from __future__ import annotations

import queue
import time

import modemqtt
import pytest
from modemqtt import CommandError, Modem, ModemError, ModemTimeout, PortError
from scripted_modem import ERROR, PROMPT, ScriptedModem, resp

CMD_TIMEOUT = 2.0

SIMCOM_INFO = [
    (r"AT\+CGMI", resp("SIMCOM INCORPORATED")),
    (r"AT\+CGMM", resp("A7600E-H")),
    (r"AT\+CGMR", resp("+CGMR: A011B07A7600M7")),
    (r"AT\+CGSN", resp("867584030000006")),
]


def open_modem(sm: ScriptedModem, **kwargs: object) -> Modem:
    kwargs.setdefault("timeout", CMD_TIMEOUT)
    return Modem(sm.path, **kwargs)  # type: ignore[arg-type]


def tx_since(sm: ScriptedModem, mark: int) -> bytes:
    return sm.host_bytes[mark:]


# ----------------------------------------------------------------------------- open/close


def test_open_sends_ate0(scripted_modem) -> None:
    with open_modem(scripted_modem) as modem:
        assert not modem.closed
        assert modem.port == scripted_modem.path
    assert any(c.upper() == "ATE0" for c in scripted_modem.commands), scripted_modem.commands
    assert modem.closed


def test_close_frees_the_port_and_reopen_works(scripted_modem) -> None:
    scripted_modem.on(r"AT\+CSQ", resp("+CSQ: 20,0"))
    modem = open_modem(scripted_modem)
    modem.close()
    modem.close()  # idempotent
    assert modem.closed
    with open_modem(scripted_modem) as again:
        assert again.command("AT+CSQ").lines == ["+CSQ: 20,0"]


def test_command_after_close_raises(scripted_modem) -> None:
    modem = open_modem(scripted_modem)
    modem.close()
    with pytest.raises(PortError):
        modem.command("AT")


def test_missing_device_raises_port_error(tmp_path) -> None:
    with pytest.raises(PortError):
        Modem(str(tmp_path / "no-such-tty"), timeout=CMD_TIMEOUT)


def test_second_open_of_same_port_is_refused(scripted_modem) -> None:
    # serialport >= 4.9 opens exclusively (TIOCEXCL + flock)
    with open_modem(scripted_modem), pytest.raises(PortError):
        open_modem(scripted_modem)


def test_unplug_makes_next_command_raise_port_error(scripted_modem) -> None:
    modem = open_modem(scripted_modem)
    try:
        scripted_modem.unplug()
        start = time.monotonic()
        with pytest.raises(PortError):
            # the first command may already be in flight when the reader notices the hangup
            for _ in range(3):
                modem.command("AT", timeout=CMD_TIMEOUT)
        assert time.monotonic() - start < 3 * CMD_TIMEOUT + 5  # did not hang
    finally:
        modem.close()


# ----------------------------------------------------------------------------- commands


def test_command_returns_lines_and_final(scripted_modem) -> None:
    scripted_modem.on(r"AT\+CSQ", resp("+CSQ: 23,0"))
    with open_modem(scripted_modem) as modem:
        r = modem.command("AT+CSQ")
    assert r.lines == ["+CSQ: 23,0"]
    assert r.final == "OK"


def test_command_is_written_with_cr(scripted_modem) -> None:
    with open_modem(scripted_modem) as modem:
        mark = len(scripted_modem.host_bytes)
        modem.command("AT+CGREG?")
    assert tx_since(scripted_modem, mark).rstrip(b"\n") == b"AT+CGREG?\r"


def test_multiline_response(scripted_modem) -> None:
    scripted_modem.on(r"AT\+CGPADDR", resp("+CGPADDR: 1,10.49.14.68", "+CGPADDR: 4,0.0.0.0"))
    with open_modem(scripted_modem) as modem:
        assert modem.command("AT+CGPADDR").lines == [
            "+CGPADDR: 1,10.49.14.68",
            "+CGPADDR: 4,0.0.0.0",
        ]


def test_no_reply_raises_timeout(scripted_modem) -> None:
    scripted_modem.on(r"AT\+NOREPLY", None)
    with open_modem(scripted_modem) as modem:
        start = time.monotonic()
        with pytest.raises(ModemTimeout):
            modem.command("AT+NOREPLY", timeout=0.5)
        elapsed = time.monotonic() - start
        assert elapsed >= 0.45  # cannot give up before its deadline
        assert elapsed < 0.5 + 10  # and did not hang
        # the engine still works afterwards
        assert modem.command("AT").final == "OK"


def test_default_timeout_from_constructor(scripted_modem) -> None:
    scripted_modem.on(r"AT\+NOREPLY", None)
    with open_modem(scripted_modem, timeout=0.5) as modem, pytest.raises(ModemTimeout):
        modem.command("AT+NOREPLY")


def test_late_reply_is_not_taken_for_the_next_command(scripted_modem) -> None:
    scripted_modem.on(r"AT\+SLOW", resp("+SLOW: 1"), delay=1.0)
    scripted_modem.on(r"AT\+CSQ", resp("+CSQ: 17,99"))
    with open_modem(scripted_modem) as modem:
        with pytest.raises(ModemTimeout):
            modem.command("AT+SLOW", timeout=0.3)
        scripted_modem.wait_sent(b"+SLOW: 1\r\n\r\nOK\r\n")
        r = modem.command("AT+CSQ")
        assert r.lines == ["+CSQ: 17,99"]
        assert r.final == "OK"


def test_plain_error_raises_command_error(scripted_modem) -> None:
    scripted_modem.on(r"AT\+BAD", ERROR)
    with open_modem(scripted_modem) as modem, pytest.raises(CommandError) as err:
        modem.command("AT+BAD")
    assert err.value.code is None
    assert "AT+BAD" in err.value.command


def test_cme_error_code(scripted_modem) -> None:
    scripted_modem.on(r"AT\+CPIN\?", resp(final="+CME ERROR: 10"))
    with open_modem(scripted_modem) as modem, pytest.raises(CommandError) as err:
        modem.command("AT+CPIN?")
    assert err.value.code == 10
    assert "CPIN" in err.value.command
    assert isinstance(err.value, ModemError)


def test_cms_error_code(scripted_modem) -> None:
    scripted_modem.on(r"AT\+CMGS.*", resp(final="+CMS ERROR: 304"))
    with open_modem(scripted_modem) as modem, pytest.raises(CommandError) as err:
        modem.command('AT+CMGS="123"')
    assert err.value.code == 304


def test_urc_between_command_and_ok_goes_to_on_urc(scripted_modem) -> None:
    scripted_modem.on(r"AT\+CSQ", b'\r\n+CSQ: 23,0\r\n\r\n+CMTI: "SM",3\r\n\r\nOK\r\n')
    urcs: queue.Queue[str] = queue.Queue()
    with open_modem(scripted_modem) as modem:
        modem.on_urc(urcs.put)
        r = modem.command("AT+CSQ")
        assert r.lines == ["+CSQ: 23,0"]
        assert r.final == "OK"
        assert urcs.get(timeout=5) == '+CMTI: "SM",3'


def test_urc_while_idle_goes_to_on_urc(scripted_modem) -> None:
    urcs: queue.Queue[str] = queue.Queue()
    with open_modem(scripted_modem) as modem:
        modem.on_urc(urcs.put)
        scripted_modem.send(b'\r\n+CMTI: "SM",7\r\n')
        assert urcs.get(timeout=5) == '+CMTI: "SM",7'
        modem.on_urc(None)
        scripted_modem.send(b'\r\n+CMTI: "SM",8\r\n')
        assert modem.command("AT").final == "OK"  # the engine is not stalled by it
    assert urcs.empty()


def test_garbage_before_response_is_tolerated(scripted_modem) -> None:
    scripted_modem.on(r"AT\+CSQ", b"\x00\xff\xfe\x13" + resp("+CSQ: 23,0"))
    with open_modem(scripted_modem) as modem:
        scripted_modem.send(b"\x00\x7f\xffnoise")
        r = modem.command("AT+CSQ")
        assert "+CSQ: 23,0" in r.lines
        assert r.final == "OK"
        assert modem.command("AT").final == "OK"


def test_echo_of_the_command_is_tolerated() -> None:
    with ScriptedModem(echo=True) as sm:
        sm.on(r"AT\+CSQ", resp("+CSQ: 23,0"))
        with open_modem(sm) as modem:
            r = modem.command("AT+CSQ")
    assert r.lines == ["+CSQ: 23,0"]
    assert r.final == "OK"


def test_bytewise_delivery() -> None:
    with ScriptedModem(chunk_size=1) as sm:
        sm.on(r"AT\+CGPADDR", resp("+CGPADDR: 1,10.0.0.2", "+CGPADDR: 2,10.0.0.3"))
        with open_modem(sm) as modem:
            r = modem.command("AT+CGPADDR")
    assert r.lines == ["+CGPADDR: 1,10.0.0.2", "+CGPADDR: 2,10.0.0.3"]


def test_command_with_data_after_prompt(scripted_modem) -> None:
    data = b"a\r\nOK\r\n\x1a\x00z"
    scripted_modem.on(rf"AT\+CMQTTTOPIC=0,{len(data)}", PROMPT, data=len(data))
    with open_modem(scripted_modem) as modem:
        r = modem.command(f"AT+CMQTTTOPIC=0,{len(data)}", data=data)
    assert r.final == "OK"
    assert scripted_modem.data_blocks == [data]


@pytest.mark.parametrize(
    "line",
    ["AT\r\nAT", "AT+CSQ\r", "AT+CSQ\n", "AT+CMGS\x1a", "AT\rAT"],
    ids=["crlf", "cr", "lf", "ctrl-z", "cr-inside"],
)
def test_bad_line_raises_value_error_and_writes_nothing(scripted_modem, line: str) -> None:
    with open_modem(scripted_modem) as modem:
        mark = len(scripted_modem.host_bytes)
        with pytest.raises(ValueError):
            modem.command(line)
        assert modem.command("AT").final == "OK"
        assert tx_since(scripted_modem, mark).rstrip(b"\r\n") == b"AT"


def test_transcript_records_both_directions(scripted_modem) -> None:
    scripted_modem.on(r"AT\+CSQ", resp("+CSQ: 23,0"))
    with open_modem(scripted_modem) as modem:
        before = time.time()
        modem.command("AT+CSQ")
        entries = modem.transcript()
        text = modem.transcript_text()
    assert entries, "empty transcript"
    for when, direction, data in entries:
        assert isinstance(when, float)
        assert direction in ("tx", "rx")
        assert isinstance(data, bytes)
    tx = b"".join(d for t, k, d in entries if k == "tx" and t >= before - 1)
    rx = b"".join(d for t, k, d in entries if k == "rx" and t >= before - 1)
    assert b"AT+CSQ" in tx
    assert b"+CSQ: 23,0" in rx
    assert "AT+CSQ" in text and "+CSQ: 23,0" in text


# ----------------------------------------------------------------------------- helpers


def test_info_parses_identification(scripted_modem) -> None:
    for pattern, reply in SIMCOM_INFO:
        scripted_modem.on(pattern, reply)
    with open_modem(scripted_modem, family="cmqtt") as modem:
        info = modem.info()
        assert modem.family == "cmqtt"
    assert info.manufacturer == "SIMCOM INCORPORATED"
    assert info.model == "A7600E-H"
    assert info.revision == "A011B07A7600M7"  # the "+CGMR: " prefix is not part of it
    assert info.imei == "867584030000006"
    assert info.family == "cmqtt"


def test_unknown_family_name_is_rejected(scripted_modem) -> None:
    with pytest.raises(ValueError, match='family: unknown family "no-such-family"'):
        open_modem(scripted_modem, family="no-such-family")
    assert scripted_modem.commands == []  # refused before the port was opened


def test_dialect_is_a_deprecated_name_of_family(scripted_modem) -> None:
    with pytest.warns(DeprecationWarning, match=r"Modem\(family=\.\.\.\)"):
        modem = open_modem(scripted_modem, dialect="cmqtt")
    with modem:
        assert modem.family == "cmqtt"
        with pytest.warns(DeprecationWarning, match="Modem.family"):
            assert modem.dialect == "cmqtt"
        info = modem.info()
        with pytest.warns(DeprecationWarning, match="ModemInfo.family"):
            assert info.dialect == info.family
    assert "family=" in repr(info)
    with pytest.raises(ValueError, match="family: give family= only"):
        open_modem(scripted_modem, family="cmqtt", dialect="cmqtt")


def test_families_of_the_core() -> None:
    from modemqtt import _core

    names = [name for name, _ in _core.families()]
    assert names == ["cmqtt", "qmt", "aliyun", "sm", "umqtt", "espat"]
    with pytest.warns(DeprecationWarning, match="families"):
        assert _core.dialects() == _core.families()


@pytest.mark.parametrize(
    ("csq", "rssi", "dbm", "ber"),
    [
        ("23,0", 23, -67, 0),
        ("0,3", 0, -113, 3),
        ("31,99", 31, -51, None),
        ("99,99", 99, None, None),
    ],
)
def test_signal_quality(scripted_modem, csq: str, rssi: int, dbm: int | None, ber: int | None):
    scripted_modem.on(r"AT\+CSQ", resp(f"+CSQ: {csq}"))
    with open_modem(scripted_modem) as modem:
        q = modem.signal_quality()
    assert (q.rssi, q.rssi_dbm, q.ber) == (rssi, dbm, ber)


def test_wait_registered_roaming(scripted_modem) -> None:
    scripted_modem.on(r"AT\+CREG\?", resp("+CREG: 0,5"))
    with open_modem(scripted_modem) as modem:
        assert modem.wait_registered(timeout=10) == "roaming"


def test_wait_registered_polls_until_home(scripted_modem) -> None:
    for reg in ("CREG", "CGREG", "CEREG"):
        scripted_modem.on(rf"AT\+{reg}\?", resp(f"+{reg}: 0,2"), times=2)
        scripted_modem.on(rf"AT\+{reg}\?", resp(f"+{reg}: 0,1"))
    with open_modem(scripted_modem) as modem:
        assert modem.wait_registered(timeout=30) == "home"
    polls = [c for c in scripted_modem.commands if c.endswith("REG?")]
    assert len(polls) >= 3


def test_wait_registered_times_out(scripted_modem) -> None:
    for reg in ("CREG", "CGREG", "CEREG"):
        scripted_modem.on(rf"AT\+{reg}\?", resp(f"+{reg}: 0,2"))
    with open_modem(scripted_modem) as modem, pytest.raises(ModemTimeout):
        modem.wait_registered(timeout=1.0)


@pytest.mark.parametrize(
    ("creg", "cgreg", "cereg", "expected"),
    [
        (
            "+CREG: 0,1",
            "+CGREG: 0,1",
            "+CEREG: 0,1",
            {"creg": "home", "cgreg": "home", "cereg": "home"},
        ),
        (
            '+CREG: 2,5,"1A2B","01C3D4E5",7',
            None,
            "+CEREG: 0,3",
            {"creg": "roaming", "cereg": "denied"},
        ),
        (
            "+CREG: 0,2",
            "+CGREG: 1,0",
            "+CEREG: 0,12",
            {"creg": "searching", "cgreg": "not registered", "cereg": "stat 12"},
        ),
    ],
)
def test_registration_in_words(
    scripted_modem, creg: str, cgreg: str | None, cereg: str, expected: dict[str, str]
) -> None:
    """None: the modem answers ERROR to that query, which is left out."""
    for reg, line in (("CREG", creg), ("CGREG", cgreg), ("CEREG", cereg)):
        scripted_modem.on(rf"AT\+{reg}\?", ERROR if line is None else resp(line))
    with open_modem(scripted_modem) as modem:
        assert modem.registration() == expected


def test_exception_hierarchy() -> None:
    for exc in (
        modemqtt.ModemTimeout,
        modemqtt.CommandError,
        modemqtt.MqttError,
        modemqtt.PortError,
        modemqtt.ProtocolError,
    ):
        assert issubclass(exc, modemqtt.ModemError)
    assert issubclass(modemqtt.ModemError, Exception)


def test_public_names_are_exported() -> None:
    for name in modemqtt.__all__:
        assert hasattr(modemqtt, name), name
    assert isinstance(modemqtt.__version__, str) and modemqtt.__version__

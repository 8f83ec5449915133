"""The ScriptedModem test double, checked with plain pyserial (no modemqtt involved)."""

from __future__ import annotations

import os
import time

import pytest
import serial
from scripted_modem import ERROR, OK, PROMPT, Rule, ScriptedModem, resp


def read_until(port: serial.Serial, expected: bytes, timeout: float = 5.0) -> bytes:
    """Read until ``expected`` has arrived; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    got = bytearray()
    while expected not in got:
        if time.monotonic() > deadline:
            raise AssertionError(f"never received {expected!r}; got {bytes(got)!r}")
        got += port.read(port.in_waiting or 1)
    return bytes(got)


def read_for(port: serial.Serial, seconds: float) -> bytes:
    """Everything that arrives within ``seconds`` (for asserting that nothing came)."""
    deadline = time.monotonic() + seconds
    got = bytearray()
    while time.monotonic() < deadline:
        got += port.read(port.in_waiting or 1)
    return bytes(got)


@pytest.fixture
def port(scripted_modem: ScriptedModem) -> serial.Serial:
    with serial.Serial(scripted_modem.path, 115200, timeout=0.05) as ser:
        yield ser


def test_resp_builds_verbose_result() -> None:
    assert resp("+CSQ: 23,0") == b"\r\n+CSQ: 23,0\r\n\r\nOK\r\n"
    assert resp(final="ERROR") == ERROR
    assert resp() == OK


def test_unscripted_at_command_gets_ok_and_is_recorded(scripted_modem, port) -> None:
    port.write(b"ATE0\r")
    assert read_until(port, b"OK\r\n") == OK
    assert scripted_modem.host_bytes == b"ATE0\r"
    assert scripted_modem.commands == ["ATE0"]


def test_default_error_when_not_ok() -> None:
    with ScriptedModem(default_ok=False) as sm, serial.Serial(sm.path, timeout=0.05) as ser:
        ser.write(b"AT+UNKNOWN\r")
        assert read_until(ser, b"ERROR\r\n") == ERROR


def test_non_at_lines_are_ignored(scripted_modem, port) -> None:
    port.write(b"hello\r")
    scripted_modem.wait_for_command("hello")
    assert read_for(port, 0.3) == b""


def test_rule_reply_and_first_match_wins(scripted_modem, port) -> None:
    scripted_modem.on(r"AT\+CSQ", resp("+CSQ: 23,0"))
    scripted_modem.on(r"AT\+C.*", ERROR)
    port.write(b"AT+CSQ\r")
    assert read_until(port, b"OK\r\n") == b"\r\n+CSQ: 23,0\r\n\r\nOK\r\n"
    port.write(b"AT+CGMI\r")
    assert read_until(port, b"ERROR\r\n") == ERROR


def test_callable_reply_sees_the_match(scripted_modem, port) -> None:
    scripted_modem.on(r"AT\+ECHO=(\d+)", lambda m: resp(f"+ECHO: {int(m.group(1)) * 2}"))
    port.write(b"AT+ECHO=21\r")
    assert b"+ECHO: 42" in read_until(port, b"OK\r\n")


def test_rule_times_then_next_rule(scripted_modem, port) -> None:
    scripted_modem.on(r"AT\+CREG\?", resp("+CREG: 0,2"), times=1)
    scripted_modem.on(r"AT\+CREG\?", resp("+CREG: 0,1"))
    port.write(b"AT+CREG?\r")
    assert b"+CREG: 0,2" in read_until(port, b"OK\r\n")
    port.write(b"AT+CREG?\r")
    assert b"+CREG: 0,1" in read_until(port, b"OK\r\n")


def test_silent_rule_never_replies(scripted_modem, port) -> None:
    scripted_modem.on(r"AT\+HANG", None)
    port.write(b"AT+HANG\r")
    scripted_modem.wait_for_command(r"AT\+HANG")
    assert read_for(port, 0.3) == b""
    port.write(b"AT\r")  # the modem keeps answering other commands
    assert read_until(port, b"OK\r\n") == OK


def test_late_reply_arrives_after_delay(scripted_modem, port) -> None:
    scripted_modem.on(r"AT\+SLOW", resp("+SLOW: 1"), delay=0.5)
    start = time.monotonic()
    port.write(b"AT+SLOW\r")
    assert b"+SLOW: 1" in read_until(port, b"OK\r\n")
    assert time.monotonic() - start >= 0.45  # a lower bound: it cannot come early


def test_echo_mode_echoes_command_before_reply() -> None:
    with ScriptedModem(echo=True) as sm, serial.Serial(sm.path, timeout=0.05) as ser:
        ser.write(b"AT+CSQ\r")
        assert read_until(ser, b"OK\r\n") == b"AT+CSQ\r" + OK


def test_prompt_then_raw_data_block(scripted_modem, port) -> None:
    scripted_modem.on(r"AT\+CMQTTTOPIC=0,(\d+)", PROMPT, data=9)
    data = b"a\r\nOK\r\n\x1a\x00"
    assert len(data) == 9
    port.write(b"AT+CMQTTTOPIC=0,9\r")
    read_until(port, b">")
    port.write(data)
    assert read_until(port, b"OK\r\n") == OK
    assert scripted_modem.data_blocks == [data]
    # the raw bytes were not taken for command lines
    assert scripted_modem.commands == ["AT+CMQTTTOPIC=0,9"]


def test_unsolicited_send(scripted_modem, port) -> None:
    scripted_modem.send(b'\r\n+CMTI: "SM",3\r\n')
    assert read_until(port, b"\r\n+CMTI").startswith(b"\r\n+CMTI")
    scripted_modem.wait_sent(b'+CMTI: "SM",3')


def test_chunked_replies_arrive_whole() -> None:
    reply = resp("+CGMR: A011B07A7600M7")
    with ScriptedModem(chunk_size=1) as sm, serial.Serial(sm.path, timeout=0.05) as ser:
        sm.on(r"AT\+CGMR", reply)
        ser.write(b"AT+CGMR\r")
        assert read_until(ser, b"OK\r\n") == reply


def test_host_close_and_reopen() -> None:
    with ScriptedModem() as sm:
        with serial.Serial(sm.path, timeout=0.05) as ser:
            ser.write(b"AT\r")
            read_until(ser, b"OK\r\n")
        with serial.Serial(sm.path, timeout=0.05) as ser:
            ser.write(b"ATI\r")
            assert read_until(ser, b"OK\r\n").endswith(OK)
        assert sm.commands == ["AT", "ATI"]


def test_unplug_makes_host_io_fail() -> None:
    sm = ScriptedModem()
    fd = os.open(sm.path, os.O_RDWR | os.O_NOCTTY)
    try:
        sm.unplug()
        assert sm.closed
        # After the master side is gone, a read returns EOF or fails with EIO at once.
        try:
            data = os.read(fd, 16)
        except OSError:
            data = b""
        assert data == b""
        with pytest.raises(OSError):
            for _ in range(3):
                os.write(fd, b"AT\r")
                time.sleep(0.01)
    finally:
        os.close(fd)
        sm.close()


def test_close_is_idempotent_and_stops_thread() -> None:
    sm = ScriptedModem()
    sm.close()
    sm.close()
    assert not sm._thread.is_alive()


def test_wait_for_command_times_out(scripted_modem) -> None:
    with pytest.raises(TimeoutError):
        scripted_modem.wait_for_command("AT", timeout=0.1)


def test_rule_dataclass_compiles_pattern() -> None:
    rule = Rule(r"AT\+X=(\d)")
    m = rule.regex.fullmatch("AT+X=1")
    assert m is not None and m.group(1) == "1"
    assert rule.regex.fullmatch("AT+X=12") is None


def test_control_bytes_before_a_command_are_dropped(scripted_modem, port) -> None:
    port.write(b"\x1b\x1aATE0\r")
    assert read_until(port, b"OK\r\n") == OK
    assert scripted_modem.commands == ["ATE0"]

"""The lab commands of the ``modemqtt`` console script, run as a user runs them (subprocess)."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import modemqtt
import pytest
from support import Paho, host_port, unique_topic, wait_until

EXE = shutil.which("modemqtt") or ""


def run(*args: str, timeout: float = 60, stdin: str | None = None, cwd: Path | None = None):
    argv = [EXE, *args] if EXE else [sys.executable, "-m", "modemqtt.cli", *args]
    return subprocess.run(
        argv,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.fixture
def vm():
    with modemqtt.VirtualModem("a7600") as v:
        yield v


def broker_args(vm: modemqtt.VirtualModem) -> list[str]:
    host, port = host_port(vm.broker_url)
    return ["-h", host, "-p", str(port)]


def test_console_script_installed() -> None:
    assert EXE, "the modemqtt console script is not on PATH"


@pytest.mark.parametrize("command", ["probe", "pub", "sub", "at", "record"])
def test_every_lab_command_has_help(command: str) -> None:
    done = run(command, "--help")
    assert done.returncode == 0, done.stderr
    assert "PORT" in done.stdout


# ----------------------------------------------------------------------------- probe


@pytest.mark.parametrize("profile", modemqtt.profiles())
def test_probe_json_identifies_each_profile(profile: str) -> None:
    with modemqtt.VirtualModem(profile) as vm, modemqtt.Modem(vm.port) as m:
        expected = m.info()
        family = m.family
        m.close()
        done = run("probe", vm.port, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["model"] == expected.model
    assert doc["firmware"] == expected.revision
    assert doc["imei"] == expected.imei
    if family == "espat":
        # A Wi-Fi chip: no SIM, no registration; the signal is the access point's RSSI.
        assert doc["sim"] == "error: AT+CPIN?: ERROR"
        assert doc["registration"] == {}
        assert doc["signal"]["rssi_dbm"] == -52 and doc["signal"]["ber"] is None
    else:
        assert doc["sim"] == "READY"
        assert doc["registration"]["creg"] == "home"
        assert doc["signal"]["rssi"] == 23 and doc["signal"]["rssi_dbm"] == -67
    # Every family modemqtt knows is probed; exactly the profile's own answers.
    assert doc["families"][family] is True
    assert [f for f, ok in doc["families"].items() if ok] == [family]
    assert doc["family"] == family


@pytest.mark.parametrize("flag", ["--family", "--dialect"])
def test_family_option_and_its_old_name(vm: modemqtt.VirtualModem, flag: str) -> None:
    done = run("probe", vm.port, flag, "cmqtt", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["family"] == "cmqtt"
    wrong = run("probe", vm.port, flag, "nonsense")
    assert wrong.returncode != 0
    assert 'family: unknown family "nonsense"' in wrong.stderr


def test_probe_table_and_quiet(vm: modemqtt.VirtualModem) -> None:
    done = run("probe", vm.port)
    assert done.returncode == 0, done.stderr
    assert "opening" in done.stdout  # progress
    assert "A7600E-H" in done.stdout
    assert "cmqtt (in use)" in done.stdout
    quiet = run("probe", vm.port, "-q")
    assert "opening" not in quiet.stdout
    assert "MQTT families" in quiet.stdout


def test_probe_reports_a_missing_sim(vm: modemqtt.VirtualModem) -> None:
    vm.refuse("AT+CPIN", "+CME ERROR: 10")
    done = run("probe", vm.port, "--json")
    assert done.returncode == 0, done.stderr
    assert "10" in json.loads(done.stdout)["sim"]


def test_probe_of_a_missing_port_fails_with_one_line() -> None:
    done = run("probe", "/dev/does-not-exist-modemqtt")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("modemqtt: error: PortError")


# ----------------------------------------------------------------------------- pub / sub


def test_pub_reaches_an_independent_subscriber(vm: modemqtt.VirtualModem) -> None:
    topic = unique_topic()
    with Paho(vm.broker_url) as peer:
        peer.subscribe(topic, qos=1)
        done = run("pub", vm.port, *broker_args(vm), "-t", topic, "-m", "héllo", "-q", "1")
        assert done.returncode == 0, done.stderr
        msg = peer.get(timeout=10)
    assert msg.payload == "héllo".encode()
    assert msg.qos == 1
    assert "published 6 bytes" in done.stdout


def test_pub_file_retained_with_url_and_json(vm: modemqtt.VirtualModem, tmp_path: Path) -> None:
    topic = unique_topic()
    payload = bytes(range(256)) + b"\r\nOK\r\n"
    (tmp_path / "p.bin").write_bytes(payload)
    host, port = host_port(vm.broker_url)
    done = run(
        "pub", vm.port, "-L", f"mqtt://{host}:{port}/{topic}", "-f", str(tmp_path / "p.bin"),
        "-r", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc == {**doc, "topic": topic, "bytes": len(payload), "retain": True, "qos": 0}
    with Paho(vm.broker_url) as peer:  # subscribes after: only a retained message arrives
        peer.subscribe(topic)
        msg = peer.get(timeout=10)
    assert msg.payload == payload and msg.retain


@pytest.mark.parametrize(
    "args, message",
    [
        (["-t", "x"], "exactly one of -m"),
        (["-t", "x", "-m", "a", "-n"], "exactly one of -m"),
        (["-m", "a"], "no topic"),
    ],
)
def test_pub_usage_errors(vm: modemqtt.VirtualModem, args: list[str], message: str) -> None:
    done = run("pub", vm.port, *broker_args(vm), *args)
    assert done.returncode == 1
    assert message in done.stderr


def test_pub_without_broker_says_how_to_give_one(vm: modemqtt.VirtualModem) -> None:
    done = run("pub", vm.port, "-t", "x", "-m", "a")
    assert done.returncode == 1
    assert "-h HOST" in done.stderr


def test_pub_bad_topic_is_refused_before_sending(vm: modemqtt.VirtualModem) -> None:
    done = run("pub", vm.port, *broker_args(vm), "-t", "a/#", "-m", "x")
    assert done.returncode == 1
    assert "ValueError" in done.stderr or "topic" in done.stderr


def test_sub_prints_count_messages_then_exits(vm: modemqtt.VirtualModem) -> None:
    topic = unique_topic()
    argv = [EXE, "sub", vm.port, *broker_args(vm), "-t", f"{topic}/#", "-C", "2", "-W", "30"]
    argv += ["-v", "-q", "1"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        # The progress line shows the subscription is in place before anything is published.
        deadline = time.monotonic() + 30
        while not any(line.startswith("subscribed") for line in lines):
            assert time.monotonic() < deadline, lines
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                lines.append(proc.stdout.readline())
        with Paho(vm.broker_url) as peer:
            peer.publish(f"{topic}/a", b"one", qos=1)
            peer.publish(f"{topic}/b", b"two", qos=1)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    printed = [line for line in (lines + out.splitlines()) if line.startswith(topic)]
    assert [p.strip() for p in printed] == [f"{topic}/a one", f"{topic}/b two"]
    assert "received 2 messages" in out


def test_sub_json_and_binary_payload(vm: modemqtt.VirtualModem) -> None:
    topic = unique_topic()
    with Paho(vm.broker_url) as peer:
        peer.publish(topic, b"\xff\x00bin", qos=1, retain=True)
    done = run("sub", vm.port, *broker_args(vm), "-t", topic, "-C", "1", "-W", "30", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    assert doc["topic"] == topic
    assert doc["payload_base64"] == "/wBiaW4="


def test_sub_timeout_without_messages_fails(vm: modemqtt.VirtualModem) -> None:
    done = run("sub", vm.port, *broker_args(vm), "-t", unique_topic(), "-W", "1", "--quiet")
    assert done.returncode == 1
    assert "timed out after 1 s: received 0 of 1 message" in done.stderr
    assert done.stdout == ""


# ----------------------------------------------------------------------------- at


def test_at_terminal_with_piped_stdin(vm: modemqtt.VirtualModem, tmp_path: Path) -> None:
    transcript = tmp_path / "t.txt"
    script = "AT+CSQ\n\nATI9999\nAT+CGMM\nhello\nexit\nAT+CGMR\n"
    vm.refuse("ATI9999", "+CME ERROR: 58")
    done = run("at", vm.port, "--transcript", str(transcript), stdin=script)
    # ATI9999 (refused) and "hello" (not a command) failed: the script's status says so.
    assert done.returncode == 1, done.stderr
    assert "2 of the script's lines failed" in done.stderr
    out = done.stdout.splitlines()
    assert "+CSQ: 23,0" in out and "OK" in out
    assert any(line.startswith("CommandError") and "58" in line for line in out)
    assert "A7600E-H" in out
    assert any("not an AT command" in line for line in out)
    assert not any("A7600M7" in line for line in out)  # nothing runs after "exit"
    text = transcript.read_text()
    assert "tx AT+CSQ\\r" in text and "+CSQ: 23,0" in text
    assert f"transcript saved to {transcript}" in done.stderr


def test_at_terminal_json_and_data_prompt(vm: modemqtt.VirtualModem) -> None:
    script = 'AT+CMQTTSTART\nwait 0.5\nAT+CMQTTACCQ=0,"t1"\nAT+CMQTTTOPIC=0,3 <<< a/b\n'
    done = run("at", vm.port, "--json", "--transcript", "-", stdin=script)
    assert done.returncode == 0, done.stderr
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [(d["type"], d.get("command") or d.get("line")) for d in docs]
    assert ("response", "AT+CMQTTSTART") in kinds
    assert ("urc", "+CMQTTSTART: 0") in kinds  # shown as it arrived, during "wait"
    topic = [d for d in docs if d.get("command") == "AT+CMQTTTOPIC=0,3"]
    assert topic and topic[0]["final"] == "OK"


def _read_until(fd: int, needle: bytes, buf: bytearray, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} in {bytes(buf)!r}"
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            assert chunk, f"terminal closed before {needle!r}: {bytes(buf)!r}"
            buf.extend(chunk)


def test_at_terminal_interactive_history_and_urcs(vm: modemqtt.VirtualModem, tmp_path: Path):
    history = tmp_path / "history"
    transcript = tmp_path / "t.txt"
    fd, slave = os.openpty()
    proc = subprocess.Popen(
        [EXE, "at", vm.port, "--history", str(history), "--transcript", str(transcript)],
        stdin=slave, stdout=slave, stderr=slave, env={**os.environ, "TERM": "dumb"},
    )  # fmt: skip
    os.close(slave)
    buf = bytearray()
    try:
        _read_until(fd, b"AT> ", buf)
        assert b"A7600E-H" in buf  # the banner
        del buf[:]
        os.write(fd, b"AT+CGMR\r")
        _read_until(fd, b"A7600M7_V1.0.0.1", buf)
        _read_until(fd, b"AT> ", buf)
        del buf[:]
        os.write(fd, b"\x1b[A\r")  # arrow up: the previous command again, from history
        _read_until(fd, b"+CGMR: A7600M7_V1.0.0.1", buf)
        # The next prompt: readline waits for input again (a Ctrl-D typed before it has the
        # terminal in raw mode would be taken by the cooked line discipline and lost).
        _read_until(fd, b"OK\r\nAT> ", buf)
        del buf[:]
        vm.reboot()  # URCs while the prompt waits
        _read_until(fd, b"<< RDY", buf)
        _read_until(fd, b"<< PB DONE", buf)
        os.write(fd, b"\x04")  # Ctrl-D leaves
        _read_until(fd, b"transcript saved", buf)
        status = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(fd)
    assert status == 0
    # Saved for the next session (readline may store a repeated line once).
    assert set(history.read_text().split()) == {"AT+CGMR"}
    assert "\\r\\nRDY\\r\\n" in transcript.read_text()


# ----------------------------------------------------------------------------- record / replay


def test_record_then_replay_the_same_session(vm: modemqtt.VirtualModem, tmp_path: Path) -> None:
    out = tmp_path / "session.jsonl"
    args = [*broker_args(vm), "-i", "rec-1", "-u", "lab", "-P", "s3cret-pass"]
    done = run("record", vm.port, "-o", str(out), *args, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["round_trip"] is True and doc["chunks"] > 20
    text = out.read_text()
    assert "s3cret-pass" not in text and '\\"***\\"' in text
    assert "AT+CMQTTPUB=0,1,60" in text

    # The same command against the recording passes; the password may differ (masked).
    args[-1] = "another-pass"
    with modemqtt.VirtualModem.replay(out) as replay:
        again = run("record", replay.port, "-o", str(tmp_path / "again.jsonl"), *args)
        assert again.returncode == 0, again.stderr
        replay.check()

    # A different session (no credentials) is caught, and the mismatch says where.
    replay = modemqtt.VirtualModem.replay(out)
    with pytest.raises(modemqtt.ReplayMismatch, match=r"recording \(line \d+\) has .*CMQTTCONNECT"):
        with replay:
            other = run("record", replay.port, "-o", str(tmp_path / "o.jsonl"), *args[:-4])
            assert other.returncode == 1
    assert replay.replay_status()["mismatch"]


def test_sim_serves_a_replay_and_reports_the_result(vm: modemqtt.VirtualModem, tmp_path: Path):
    out = tmp_path / "probe.jsonl"
    done = run("probe", vm.port, "--record", str(out), "-q")
    assert done.returncode == 0, done.stderr
    proc = subprocess.Popen(
        [EXE, "sim", f"replay:{out}", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/"), port
        again = run("probe", port, "-q")
        assert again.returncode == 0, again.stderr
        # The same answers, from the recording (only the port differs).
        assert again.stdout.splitlines()[1:] == done.stdout.splitlines()[1:]
        wrong = run("probe", port, "-q")  # a second session is not in the recording
        assert wrong.returncode == 1
    finally:
        proc.terminate()
        out_text, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert "ReplayMismatch" in err and "after the end of the recording" in err


def test_at_record_option_writes_a_recording(vm: modemqtt.VirtualModem, tmp_path: Path) -> None:
    out = tmp_path / "at.jsonl"
    done = run("record", vm.port, "-o", str(out), "--at", stdin="AT+CSQ\n")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0]["modemqtt_recording"] == 1
    assert {"t", "dir", "data"} <= set(lines[1])
    assert any(x.get("data") == "AT+CSQ\r" for x in lines)
    wait_until(lambda: out.exists())

"""Record a session's wire traffic (Modem(record=...)) and replay it as a virtual modem."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import modemqtt
import pytest
from modemqtt.notebook import MessageView, Transcript


def session(port: str, broker_url: str, password: str, topic: str = "rr/t") -> bytes:
    u = urlsplit(broker_url)
    assert u.hostname and u.port
    with modemqtt.Modem(port) as m:
        m.info()
        with m.mqtt("rr-client") as c:
            c.connect(u.hostname, u.port, username="lab", password=password)
            c.subscribe(topic, qos=1)
            c.publish(topic, b"\x00\xffbinary\r\nOK\r\n", qos=1)
            payload = c.wait_message(topic, timeout=10).payload
            c.disconnect()
    return payload


@pytest.fixture
def recording(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "s.jsonl"
    with modemqtt.VirtualModem("a7600") as vm:
        u = urlsplit(vm.broker_url)
        with modemqtt.Modem(vm.port, record=path) as m:
            m.info()
            with m.mqtt("rr-client") as c:
                c.connect(u.hostname, u.port, username="lab", password="pa55word-secret")
                c.subscribe("rr/t", qos=1)
                c.publish("rr/t", b"\x00\xffbinary\r\nOK\r\n", qos=1)
                c.wait_message("rr/t", timeout=10)
                c.disconnect()
        return path, vm.broker_url


def test_recording_format_timestamps_and_masking(recording: tuple[Path, str]) -> None:
    path, _ = recording
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["modemqtt_recording"] == 1 and lines[0]["port"].startswith("/dev/")
    chunks = lines[1:]
    assert chunks[0] == {**chunks[0], "dir": "tx", "data": "AT\r"}
    times = [c["t"] for c in chunks]
    assert times == sorted(times) and times[0] >= lines[0]["started"]
    wire = b"".join(c["data"].encode("latin-1") for c in chunks)
    assert b"pa55word-secret" not in wire
    assert b'"lab","***"' in wire
    assert b"\x00\xffbinary\r\nOK\r\n" in wire  # binary payloads survive byte for byte


def test_replay_accepts_the_same_session_with_another_password(recording) -> None:
    path, broker = recording
    with modemqtt.VirtualModem.replay(path) as rv:
        assert rv.profile == f"replay:{path}"
        assert rv.broker_url == ""
        assert session(rv.port, broker, "different") == b"\x00\xffbinary\r\nOK\r\n"
        status = rv.replay_status()
        assert status["complete"] and status["mismatch"] is None
        rv.check()


def test_replay_reports_a_changed_session(recording) -> None:
    path, broker = recording
    rv = modemqtt.VirtualModem.replay(path)
    with pytest.raises(modemqtt.ReplayMismatch) as exc:
        with rv:
            with pytest.raises(modemqtt.CommandError):  # the replay answers ERROR at once
                session(rv.port, broker, "x", topic="rr/other")
    text = str(exc.value)
    assert "the host sent `AT+CMQTTSUB=0,8,1" in text
    assert "where the recording (line" in text and "has `AT+CMQTTSUB=0,4,1" in text


def test_replay_check_complete_names_what_is_missing(recording) -> None:
    path, _ = recording
    with modemqtt.VirtualModem.replay(path) as rv:
        with modemqtt.Modem(rv.port) as m:
            m.info()
        rv.check(complete=False)
        with pytest.raises(modemqtt.ReplayMismatch, match="stopped early.*AT\\+CMQTTSTART"):
            rv.check()
        assert not rv.replay_status()["complete"]


def test_sim_port_url_replays(recording) -> None:
    path, broker = recording
    assert session(f"sim://replay:{path}", broker, "y") == b"\x00\xffbinary\r\nOK\r\n"


def test_replay_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no recording"):
        modemqtt.VirtualModem.replay(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 1, "dir": "tx", "data": "AT\\r"}\n')
    with pytest.raises(ValueError, match="header"):
        modemqtt.VirtualModem(f"replay:{bad}")
    bad.write_text('{"modemqtt_recording": 1}\n{"t": 1, "dir": "sideways", "data": ""}\n')
    with pytest.raises(ValueError, match="line 2"):
        modemqtt.VirtualModem.replay(bad)
    ok = tmp_path / "ok.jsonl"
    ok.write_text('{"modemqtt_recording": 1}\n')
    with modemqtt.VirtualModem.replay(ok) as rv:
        with pytest.raises(ValueError, match="not available on a replay"):
            rv.drop_link()
        with pytest.raises(ValueError, match="not available on a replay"):
            rv.stats()
    with modemqtt.VirtualModem("a7600") as vm:
        with pytest.raises(ValueError, match="only a replay"):
            vm.check()


def test_record_path_error_comes_before_the_port_is_opened(tmp_path: Path) -> None:
    with modemqtt.VirtualModem("a7600") as vm:
        with pytest.raises(OSError, match="record: cannot create"):
            modemqtt.Modem(vm.port, record=tmp_path / "no-such-dir" / "x.jsonl")
        assert vm.stats()["bytes_in"] == 0
        with modemqtt.Modem(vm.port) as m:  # the port was never taken
            m.info()


# ----------------------------------------------------------------------------- notebook


def test_transcript_html_text_and_load(recording) -> None:
    path, _ = recording
    t = Transcript.load(path)
    assert len(t) > 20
    assert t.entries[0].direction == "tx" and t.entries[0].data == b"AT\r"
    html = t._repr_html_()
    assert html.startswith("<b>Transcript</b>")
    assert "AT+CMQTTSUB=0,4,1" in html and "&rarr; modem" in html
    assert "pa55word" not in html and "&quot;***&quot;" in html
    assert "tx AT\\r" in t.text()
    with pytest.raises(ValueError, match="direction"):
        Transcript([(0.0, "up", b"")])
    assert Transcript([])._repr_html_() == "<i>empty transcript</i>"


def test_message_view_updates_and_stops() -> None:
    with modemqtt.VirtualModem("a7600") as vm, modemqtt.Modem(vm.port) as m:
        u = urlsplit(vm.broker_url)
        with m.mqtt("view-test") as c:
            chained: list[bytes] = []
            c.on_message = lambda msg: chained.append(msg.payload)
            view = MessageView(c, max_rows=2)
            assert "none yet" in view._repr_html_()
            c.connect(u.hostname, u.port)
            c.subscribe("view/#", qos=1)
            arrived = threading.Event()
            for i in range(3):
                c.publish(f"view/{i}", f"<b>{i}</b>", qos=1)
            for _ in range(200):
                if view.count == 3:
                    arrived.set()
                    break
                arrived.wait(0.05)
            assert view.count == 3
            html = view._repr_html_()
            assert "3 received (live, last 2 shown)" in html
            assert "&lt;b&gt;2&lt;/b&gt;" in html and "view/0" not in html  # escaped, bounded
            assert chained == [b"<b>0</b>", b"<b>1</b>", b"<b>2</b>"]  # the old callback too
            assert "<b>MqttClient</b>" in c._repr_html_() and "view/#" in c._repr_html_()
            view.stop()
            assert c.on_message is not None and "stopped" in view._repr_html_()
            with pytest.raises(ValueError, match="max_rows"):
                MessageView(c, max_rows=0)

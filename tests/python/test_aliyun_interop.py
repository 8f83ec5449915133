"""The Alibaba profiles against mosquitto, with mosquitto_sub / mosquitto_pub as independent
peers; one broker checks the platform-style login (user name and signed password)."""

from __future__ import annotations

import getpass
import socket
import subprocess
import time
from pathlib import Path

import pytest
from modemqtt import Modem, VirtualModem, aliyun_sign
from support import MosquittoSub, find_exe, free_port, mosquitto_pub, wait_until

pytestmark = pytest.mark.usefixtures("mosquitto_clients")

PK, DN, DS = "a1B2c3D4e5F", "sensor-7", "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("profile", ["sim7600-aliyun", "sim7000-aliyun"])
def test_publish_seen_by_mosquitto_sub(mosquitto_broker: str, profile: str) -> None:
    topic = f"/{PK}/{DN}/update"
    payload = "{t:21.5, s:a b}"  # no '"' in AT+CMPUB (seeds/000 §3.4)
    with VirtualModem(profile, broker=mosquitto_broker) as vm, Modem(vm.port, timeout=10) as m:
        with m.aliyun_mqtt(PK, DN, DS, poll_interval=0.05) as c:
            c.connect()
            with MosquittoSub(mosquitto_broker, topic, qos=1) as sub:
                sub.wait_subscribed()
                c.publish(topic, payload, qos=1)
                assert sub.messages() == [(False, 1, payload.encode())]


def test_mosquitto_pub_received(mosquitto_broker: str) -> None:
    topic = f"/{PK}/{DN}/get"
    with VirtualModem("sim7600-aliyun", broker=mosquitto_broker) as vm, Modem(vm.port) as m:
        with m.aliyun_mqtt(PK, DN, DS, poll_interval=0.05) as c:
            c.connect()
            c.subscribe(topic, qos=1)
            for i in range(5):
                mosquitto_pub(mosquitto_broker, topic, "-q", "1", "-m", f'{{"cmd":{i},"x":"a,b"}}')
                c.publish(f"/{PK}/{DN}/update", f"busy {i}", qos=1)
            got = [c.wait_message(topic, timeout=10).payload for _ in range(5)]
            assert got == [f'{{"cmd":{i},"x":"a,b"}}'.encode() for i in range(5)]


def test_coap_send_forwarded(mosquitto_broker: str) -> None:
    with VirtualModem("sim7000-aliyun", broker=mosquitto_broker) as vm, Modem(vm.port) as m:
        with m.aliyun_coap(PK, DN, DS) as coap:
            coap.auth(timeout=2)
            with MosquittoSub(mosquitto_broker, f"/{PK}/{DN}/update", qos=1) as sub:
                sub.wait_subscribed()
                assert coap.send("update", '{"light":"open"}', timeout=2).ok
                assert sub.messages() == [(False, 1, b'{"light":"open"}')]


def test_signed_login_accepted_by_checking_broker(tmp_path: Path) -> None:
    exe = find_exe("mosquitto")
    passwd = find_exe("mosquitto_passwd")
    if exe is None or passwd is None:
        pytest.skip("mosquitto / mosquitto_passwd not installed: apt-get install mosquitto")
    port = free_port()
    # Signature without timestamp: stable, so the broker can hold it in its password file.
    _, user, password = aliyun_sign(PK, DN, DS)
    pwfile = tmp_path / "passwd"
    pwfile.write_text("")
    subprocess.run([passwd, "-b", str(pwfile), user, password], check=True, timeout=30)
    conf = tmp_path / "m.conf"
    # Run as ourselves: mosquitto started as root would drop to its own user, which cannot
    # read pytest's private temporary folder.
    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\n"
        f"allow_anonymous false\npassword_file {pwfile}\n"
    )
    log = open(tmp_path / "log", "wb")
    proc = subprocess.Popen([exe, "-c", str(conf), "-v"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _accepts(port), timeout=15, what="mosquitto listening")
        url = f"mqtt://127.0.0.1:{port}"
        with VirtualModem("sim7600-aliyun", broker=url) as vm, Modem(vm.port, timeout=10) as m:
            vm.set_sign_timestamp(False)
            with m.aliyun_mqtt(PK, DN, DS, poll_interval=0.05) as c:
                events: list[str] = []
                c.on_disconnect = lambda cause: events.append(f"down {cause}")
                c.on_connect = lambda: events.append("up")
                c.connect()
                assert c.is_connected()
                # The firmware's own reconnect after a link loss logs in the same way.
                vm.drop_link()
                wait_until(lambda: "down 1" in events, timeout=10, what="+CMYIELD: 1")
                wait_until(lambda: "up" in events, timeout=10, what="+CMYIELD: 2")
                wait_until(c.is_connected, timeout=10, what="is_connected() after +CMYIELD: 2")
            with m.aliyun_mqtt(PK, DN, "wrong-secret") as c:
                with pytest.raises(Exception, match="ERROR"):
                    c.connect()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    text = (tmp_path / "log").read_text(errors="replace")
    assert f"u'{user}'" in text or user in text


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        time.sleep(0.05)
        return False

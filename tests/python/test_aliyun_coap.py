"""The Alibaba CoAP client (``AT+CC*``) against both firmware revisions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from modemqtt import AliyunCoap, Modem, MqttError, VirtualModem

PK, DN, DS = "CwlekguDcv3", "device", "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu"
CODES = {
    0x45: "Content",
    0x80: "Bad Request",
    0x81: "Unauthorized",
    0x84: "Not Found",
    0x8E: "Request URI Too Long",
    0xA0: "Internal Server Error",
}


@pytest.fixture(params=["sim7600-aliyun", "sim7000-aliyun"])
def vm(request: pytest.FixtureRequest) -> Iterator[VirtualModem]:
    with VirtualModem(request.param) as v:
        yield v


@pytest.fixture
def coap(modem: Modem) -> Iterator[AliyunCoap]:
    with modem.aliyun_coap(PK, DN, DS) as c:
        yield c


def sent(modem: Modem) -> list[bytes]:
    return [d.rstrip(b"\r") for _, di, d in modem.transcript() if di == "tx"]


def test_send_authenticates_once(coap: AliyunCoap, modem: Modem) -> None:
    r = coap.send("update", '{"light":"open"}', timeout=2)
    assert (r.code, r.ok, r.payload) == (0x45, True, b"")
    assert r.name == "Content"
    coap.send("update", '{"n":2}', timeout=2)
    lines = sent(modem)
    assert sum(line.startswith(b"AT+CCINIT") for line in lines) == 1
    assert sum(line.startswith(b"AT+CCAUTH") for line in lines) == 1
    assert b'AT+CCSEND="update","{\\"light\\":\\"open\\"}",2000' in lines
    assert DS.encode() not in b"".join(d for _, _, d in modem.transcript())


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_response_code(coap: AliyunCoap, vm: VirtualModem, code: int) -> None:
    vm.force_coap_response(code)
    r = coap.send("update", "{}", timeout=2)
    assert r.code == code
    assert r.name.startswith(CODES[code])
    assert r.ok == (code == 0x45)


def test_expired_token_reauthenticates(coap: AliyunCoap, vm: VirtualModem, modem: Modem) -> None:
    vm.force_coap_response(0x81)
    assert coap.send("update", "{}", timeout=2).code == 0x81
    vm.force_coap_response(None)
    assert coap.send("update", "{}", timeout=2).code == 0x45
    assert sum(line.startswith(b"AT+CCAUTH") for line in sent(modem)) == 2


def test_auth_failure(coap: AliyunCoap, vm: VirtualModem) -> None:
    code = -4 if vm.profile == "sim7600-aliyun" else 11
    vm.force_coap_auth_error(code)
    with pytest.raises(MqttError) as e:
        coap.auth(timeout=2)
    assert e.value.code == code
    assert e.value.name in ("IOTX_ERR_AUTH_FAILED", "authentication failed")
    assert e.value.operation == "auth"
    coap.auth(timeout=2)


def test_send_failure(coap: AliyunCoap, vm: VirtualModem) -> None:
    coap.auth(timeout=2)
    code = -8 if vm.profile == "sim7600-aliyun" else 2
    vm.force_coap_send_error(code)
    with pytest.raises(MqttError) as e:
        coap.send("update", "{}", timeout=2)
    assert e.value.code == code
    assert e.value.name in ("IOTX_ERR_SEND_MSG_FAILED", "timed out")


def test_limits_before_sending(coap: AliyunCoap, modem: Modem) -> None:
    before = len(modem.transcript())
    with pytest.raises(ValueError, match="topic"):
        coap.send("t" * 65, "{}")
    with pytest.raises(ValueError, match="payload"):
        coap.send("update", "x" * 1025)
    with pytest.raises(ValueError, match="payload"):
        coap.send("update", "a\nb")
    with pytest.raises(ValueError, match="timeout"):
        coap.send("update", "{}", timeout=61)
    assert len(modem.transcript()) == before
    assert coap.send("update", "x" * 1024, timeout=2).ok


def test_receive_with_nothing_pending(coap: AliyunCoap) -> None:
    coap.auth(timeout=2)
    assert coap.receive() is None


def test_close_is_idempotent_and_final(modem: Modem) -> None:
    c = modem.aliyun_coap(PK, DN, DS)
    c.send("update", "{}", timeout=2)
    c.close()
    c.close()
    assert sent(modem)[-1] == b"AT+CCDEINIT"
    with pytest.raises(Exception, match="closed"):
        c.send("update", "{}")


def test_not_on_cmqtt_firmware() -> None:
    with VirtualModem("a7600") as v, Modem(v.port) as m:
        with pytest.raises(Exception, match="Alibaba"):
            m.aliyun_coap(PK, DN, DS)
        with pytest.raises(Exception, match="Alibaba"):
            m.aliyun_mqtt(PK, DN, DS)

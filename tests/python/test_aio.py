"""modemqtt.aio: the async faces of Modem and MqttClient, on virtual modems."""

from __future__ import annotations

import asyncio
import threading
from urllib.parse import urlsplit

import modemqtt
import pytest
from modemqtt import aio
from support import Paho, unique_topic


def broker(vm: modemqtt.VirtualModem) -> tuple[str, int]:
    u = urlsplit(vm.broker_url)
    assert u.hostname and u.port
    return u.hostname, u.port


@pytest.mark.parametrize(
    "flt, topic, ok",
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "$SYS/x", False),
        ("+/b", "a/c", False),
    ],
)
def test_topic_matches(flt: str, topic: str, ok: bool) -> None:
    assert aio.topic_matches(flt, topic) is ok
    assert modemqtt.topic_matches(flt, topic) is ok  # the core's matcher, also at the top


@pytest.mark.parametrize(
    "flt, topic, message",
    [
        ("a/#/b", "a/x/b", "topic_filter: .*'#' must be a whole, last level"),
        ("a/b+", "a/b", "topic_filter: .*'\\+' must be a whole level"),
        ("", "a", "topic_filter: must not be empty"),
        ("a/+", "a/+", "topic: .*contains a wildcard"),
        ("a/+", "", "topic: must not be empty"),
    ],
)
def test_topic_matches_refuses_what_mqtt_does_not_allow(flt: str, topic: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aio.topic_matches(flt, topic)


ALIYUN = ["sim7600-aliyun", "sim7000-aliyun"]
PK, DN, DS = "CwlekguDcv3", "device", "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu"


@pytest.mark.parametrize("profile", ALIYUN)
def test_aliyun_mqtt_round_trip(profile: str) -> None:
    topic = f"/{PK}/{DN}/get"

    async def main() -> bytes:
        with modemqtt.VirtualModem(profile) as vm:
            async with aio.Modem(vm.port) as modem:
                assert modem.family == "aliyun"
                assert await modem.registration() == {
                    "creg": "home",
                    "cgreg": "home",
                    "cereg": "home",
                }
                opened = modem.aliyun_mqtt(PK, DN, DS, poll_interval=0.05, auto_yield=False)
                async with await opened as client:
                    await client.connect()
                    assert client.is_connected()
                    await client.subscribe(topic, qos=1)
                    await client.publish(topic, b"{light:open}", qos=1)
                    msg = await client.wait_message(topic, timeout=10)
                    await client.disconnect()
                return msg.payload

    assert asyncio.run(asyncio.wait_for(main(), 60)) == b"{light:open}"


@pytest.mark.parametrize("profile", ALIYUN)
def test_aliyun_coap(profile: str) -> None:
    async def main() -> None:
        with modemqtt.VirtualModem(profile) as vm:
            async with aio.Modem(vm.port) as modem:
                async with await modem.aliyun_coap(PK, DN, DS) as coap:
                    assert coap.profile == coap.sync.profile
                    r = await coap.send("update", '{"light":"open"}', timeout=2)
                    assert (r.code, r.ok) == (0x45, True)
                    vm.force_coap_response(0x84)
                    assert (await coap.send("update", "{}", timeout=2)).code == 0x84
                    assert await coap.receive() is None
                with pytest.raises(modemqtt.ModemError, match="closed"):
                    await coap.send("update", "{}")
                lines = [d for _, di, d in modem.transcript() if di == "tx"]
                assert lines[-1].rstrip(b"\r") == b"AT+CCDEINIT"

    asyncio.run(asyncio.wait_for(main(), 60))


def test_family_and_its_deprecated_name() -> None:
    async def main() -> None:
        with modemqtt.VirtualModem("ec20") as vm:
            with pytest.warns(DeprecationWarning, match=r"aio.Modem\(family=\.\.\.\)"):
                old = aio.Modem(vm.port, dialect="qmt")
            async with old as modem:
                assert modem.family == "qmt"
                with pytest.warns(DeprecationWarning, match="aio.Modem.family"):
                    assert modem.dialect == "qmt"
            with pytest.raises(ValueError, match="family: give family= only"):
                aio.Modem(vm.port, family="qmt", dialect="qmt")

    asyncio.run(asyncio.wait_for(main(), 60))


def test_roundtrip_and_async_for() -> None:
    async def main() -> list[bytes]:
        with modemqtt.VirtualModem("a7600") as vm:
            async with aio.Modem(vm.port) as modem:
                info = await modem.info()
                assert info.family == "cmqtt"
                assert (await modem.command("AT+CSQ")).lines == ["+CSQ: 23,0"]
                async with await modem.mqtt("aio-1") as client:
                    await client.connect(*broker(vm))
                    assert client.is_connected()
                    await client.subscribe("aio/#", qos=1)
                    # Publishes run concurrently; the core serialises them on the port.
                    await asyncio.gather(
                        *(client.publish(f"aio/{i}", f"m{i}".encode(), qos=1) for i in range(5))
                    )
                    got = [m.payload async for m in client.messages(timeout=2)]
                    await client.disconnect()
                return got

    got = asyncio.run(asyncio.wait_for(main(), 60))
    assert sorted(got) == [b"m0", b"m1", b"m2", b"m3", b"m4"]


def test_messages_arrive_on_the_loop_thread_and_filters_keep_the_rest() -> None:
    async def main() -> None:
        loop_thread = threading.get_ident()
        seen_threads: list[int] = []
        with modemqtt.VirtualModem("a7600") as vm:
            async with aio.Modem(vm.port) as modem:
                client = await modem.mqtt("aio-2")
                client.on_connect = lambda: seen_threads.append(threading.get_ident())
                await client.connect(*broker(vm))
                topic = unique_topic()
                await client.subscribe(f"{topic}/#", qos=1)
                with Paho(vm.broker_url) as peer:
                    peer.publish(f"{topic}/other", b"first", qos=1)
                    peer.publish(f"{topic}/wanted", b"second", qos=1)
                msg = await client.wait_message(f"{topic}/wanted", timeout=10)
                assert msg.payload == b"second"
                rest = await client.wait_message(timeout=10)  # kept for later
                assert rest.payload == b"first"
                with pytest.raises(modemqtt.ModemTimeout):
                    await client.wait_message(timeout=0.3)
                await client.close()
        assert seen_threads == [loop_thread]

    asyncio.run(asyncio.wait_for(main(), 60))


def test_urc_callbacks_and_coroutines_run_on_the_loop() -> None:
    async def main() -> None:
        got: asyncio.Queue[str] = asyncio.Queue()  # only safe from the loop thread

        async def on_urc(line: str) -> None:
            await got.put(line)

        with modemqtt.VirtualModem("a7600") as vm:
            async with aio.Modem(vm.port) as modem:
                modem.on_urc(on_urc)
                vm.reboot()
                lines = [await asyncio.wait_for(got.get(), 10) for _ in range(4)]
                assert lines == ["RDY", "+CPIN: READY", "SMS DONE", "PB DONE"]
                modem.on_urc(None)

    asyncio.run(asyncio.wait_for(main(), 60))


def test_errors_are_the_core_exceptions() -> None:
    async def main() -> None:
        with modemqtt.VirtualModem("a7600") as vm:
            async with aio.Modem(vm.port) as modem:
                vm.refuse("AT+CSQ", "+CME ERROR: 30")
                with pytest.raises(modemqtt.CommandError) as exc:
                    await modem.command("AT+CSQ")
                assert exc.value.code == 30
                client = await modem.mqtt("aio-3")
                with pytest.raises(ValueError):
                    await client.publish("a/#", b"x")
                with pytest.raises(ValueError, match="topic: .*'#'"):
                    await client.wait_message("a/#/b", timeout=1)
        with pytest.raises(modemqtt.PortError):
            await aio.Modem("/dev/does-not-exist-modemqtt").open()
        with pytest.raises(RuntimeError, match="not open"):
            aio.Modem("sim://a7600").sync  # noqa: B018

    asyncio.run(asyncio.wait_for(main(), 60))


def test_asyncio_buffer_overflow_is_counted() -> None:
    async def main() -> None:
        with modemqtt.VirtualModem("a7600") as vm:
            async with aio.Modem(vm.port) as modem:
                client = await modem.mqtt("aio-4", queue_size=2)
                await client.connect(*broker(vm))
                topic = unique_topic()
                await client.subscribe(topic, qos=1)
                for i in range(4):
                    await client.publish(topic, f"{i}".encode(), qos=1)
                deadline = asyncio.get_running_loop().time() + 10
                while client.sync.received < 4:
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.2)  # the last hops to the loop
                got = [m.payload async for m in client.messages(timeout=0.5)]
                assert got == [b"2", b"3"]
                assert client.dropped == 2
                await client.close()

    asyncio.run(asyncio.wait_for(main(), 60))

"""asyncio faces of :class:`modemqtt.Modem` and :class:`modemqtt.MqttClient`.

The same Rust core does the work: each blocking call runs in the loop's default thread pool
(the core releases the GIL and every call has a deadline, so no thread waits forever), and
received messages are handed to the running loop with ``loop.call_soon_threadsafe`` from the
core's dispatch thread, never touching the loop from another thread::

    import asyncio
    from modemqtt import aio

    async def main() -> None:
        async with aio.Modem("sim://a7600") as modem:
            client = await modem.mqtt("lab-42")
            await client.connect("broker.example.org", 1883)
            await client.subscribe("lab/#", qos=1)
            await client.publish("lab/42/temp", b"21.5", qos=1)
            async for msg in client.messages(timeout=5):
                print(msg.topic, msg.payload)

    asyncio.run(main())

Cancelling an ``await`` stops the waiting, not the modem: a command already written to the
port completes (or times out) in its worker thread, and its result is discarded.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from types import TracebackType
from typing import Any, Callable, TypeVar

from . import Message, ModemInfo, ModemTimeout, Response, SignalQuality, Tls, Will
from . import Modem as _SyncModem
from . import MqttClient as _SyncClient

__all__ = ["Modem", "MqttClient", "AsyncMqttClient", "topic_matches"]

log = logging.getLogger("modemqtt.aio")
T = TypeVar("T")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches the MQTT filter (``+`` one level, ``#`` the rest)."""
    f_parts = topic_filter.split("/")
    t_parts = topic.split("/")
    if topic.startswith("$") and f_parts[0] in ("+", "#"):
        return False  # MQTT 3.1.1 4.7.2: wildcards do not match $SYS-style topics
    for i, f in enumerate(f_parts):
        if f == "#":
            return True
        if i >= len(t_parts):
            return False
        if f != "+" and f != t_parts[i]:
            return False
    return len(f_parts) == len(t_parts)


def _check_filter(topic_filter: str) -> None:
    if not topic_filter:
        raise ValueError("topic: must not be empty")
    parts = topic_filter.split("/")
    for i, p in enumerate(parts):
        if "#" in p and (p != "#" or i != len(parts) - 1):
            raise ValueError(f"topic: '#' must be a whole last level in {topic_filter!r}")
        if "+" in p and p != "+":
            raise ValueError(f"topic: '+' must be a whole level in {topic_filter!r}")


class _Runner:
    """Runs blocking core calls in the loop's executor."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]:
        return self.loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))


class AsyncMqttClient:
    """An :class:`modemqtt.MqttClient` with ``async`` methods.

    Received messages are buffered on the loop (at most ``queue_size``; beyond that the
    oldest is dropped, counted in :attr:`dropped` and logged).
    """

    def __init__(
        self, client: _SyncClient, loop: asyncio.AbstractEventLoop, queue_size: int = 10000
    ) -> None:
        self._client = client
        self._loop = loop
        self._runner = _Runner()
        self._runner._loop = loop
        self._buf: deque[Message] = deque()
        self._arrived = asyncio.Event()
        self._queue_size = queue_size
        self._dropped = 0
        self.on_disconnect: Callable[[int], Any] | None = None
        self.on_connect: Callable[[], Any] | None = None
        client.on_message = self._from_thread(self._deliver)
        client.on_disconnect = self._from_thread(self._disconnected)
        client.on_connect = self._from_thread(self._connected)

    def _from_thread(self, fn: Callable[..., None]) -> Callable[..., None]:
        loop = self._loop

        def hop(*args: Any) -> None:
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                log.debug("event after the event loop closed: %r", args)

        return hop

    def _deliver(self, msg: Message) -> None:
        if len(self._buf) >= self._queue_size:
            self._buf.popleft()
            self._dropped += 1
            log.warning(
                "client %s: asyncio buffer full (%d): oldest message dropped (%d so far)",
                self._client.client_id,
                self._queue_size,
                self._dropped,
            )
        self._buf.append(msg)
        self._arrived.set()

    def _call_user(self, cb: Callable[..., Any] | None, *args: Any) -> None:
        if cb is None:
            return
        result = cb(*args)
        if inspect.isawaitable(result):
            asyncio.ensure_future(result)

    def _disconnected(self, cause: int) -> None:
        self._call_user(self.on_disconnect, cause)

    def _connected(self) -> None:
        self._call_user(self.on_connect)

    @property
    def sync(self) -> _SyncClient:
        """The underlying blocking client."""
        return self._client

    @property
    def client_id(self) -> str:
        return self._client.client_id

    @property
    def index(self) -> int:
        return self._client.index

    @property
    def dropped(self) -> int:
        """Messages dropped by the core's queue or by the asyncio buffer."""
        return self._client.dropped + self._dropped

    def is_connected(self) -> bool:
        return self._client.is_connected()

    def subscriptions(self) -> list[tuple[str, int]]:
        return self._client.subscriptions()

    async def connect(
        self,
        host: str,
        port: int = 1883,
        keepalive: int = 60,
        clean_session: bool = True,
        username: str | None = None,
        password: str | None = None,
        will: Will | None = None,
        tls: Tls | None = None,
        timeout: float = 30.0,
    ) -> None:
        await self._runner.run(
            self._client.connect,
            host,
            port,
            keepalive=keepalive,
            clean_session=clean_session,
            username=username,
            password=password,
            will=will,
            tls=tls,
            timeout=timeout,
        )

    async def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int = 0,
        retain: bool = False,
        timeout: float | None = None,
    ) -> None:
        await self._runner.run(
            self._client.publish, topic, payload, qos=qos, retain=retain, timeout=timeout
        )

    async def subscribe(
        self, topic: str | list[tuple[str, int]], qos: int = 0, timeout: float | None = None
    ) -> None:
        await self._runner.run(self._client.subscribe, topic, qos=qos, timeout=timeout)

    async def unsubscribe(self, topic: str | list[str], timeout: float | None = None) -> None:
        await self._runner.run(self._client.unsubscribe, topic, timeout=timeout)

    async def disconnect(self, timeout: float | None = None) -> None:
        await self._runner.run(self._client.disconnect, timeout=timeout)

    async def close(self) -> None:
        await self._runner.run(self._client.close)

    async def wait_message(self, topic: str | None = None, timeout: float = 10.0) -> Message:
        """The next message (matching the MQTT filter ``topic``), or ModemTimeout.

        Messages that do not match stay buffered for later calls and :meth:`messages`.
        """
        if topic is not None:
            _check_filter(topic)
        if not timeout > 0:
            raise ValueError(f"timeout: must be positive, got {timeout}")
        deadline = self._loop.time() + timeout
        while True:
            for i, m in enumerate(self._buf):
                if topic is None or topic_matches(topic, m.topic):
                    del self._buf[i]
                    return m
            self._arrived.clear()
            left = deadline - self._loop.time()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except asyncio.TimeoutError:
                break
        on = f" on {topic!r}" if topic is not None else ""
        raise ModemTimeout(f"no message{on} within {timeout} s")

    async def messages(self, timeout: float | None = None) -> AsyncIterator[Message]:
        """Yield messages as they arrive; with ``timeout``, stop after that long without one."""
        while True:
            try:
                yield await self.wait_message(timeout=timeout if timeout is not None else 3600.0)
            except ModemTimeout:
                if timeout is not None:
                    return

    async def __aenter__(self) -> AsyncMqttClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<aio {self._client!r}>"

    def _repr_html_(self) -> str:
        return "<i>async</i> " + self._client._repr_html_()


class Modem:
    """An :class:`modemqtt.Modem` with ``async`` methods.

    ``async with aio.Modem(port, ...) as modem:`` opens it in a worker thread; or
    ``modem = await aio.Modem(port).open()``. Arguments are those of :class:`modemqtt.Modem`.
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        timeout: float = 5.0,
        dialect: str = "auto",
        *,
        record: str | None = None,
    ) -> None:
        self._args = (port, baudrate, timeout, dialect)
        self._record = record
        self._modem: _SyncModem | None = None
        self._runner = _Runner()
        self._clients: list[AsyncMqttClient] = []

    async def open(self) -> Modem:
        if self._modem is None:
            self._modem = await self._runner.run(_SyncModem, *self._args, record=self._record)
        return self

    @property
    def sync(self) -> _SyncModem:
        """The underlying blocking modem (raises if not opened yet)."""
        if self._modem is None:
            raise RuntimeError("the modem is not open yet: use 'async with' or 'await .open()'")
        return self._modem

    @property
    def port(self) -> str:
        return self._args[0]

    @property
    def dialect(self) -> str:
        return self.sync.dialect

    @property
    def closed(self) -> bool:
        return self._modem is None or self._modem.closed

    async def command(
        self, line: str, timeout: float | None = None, *, data: bytes | None = None
    ) -> Response:
        return await self._runner.run(self.sync.command, line, timeout, data=data)

    async def info(self) -> ModemInfo:
        return await self._runner.run(self.sync.info)

    async def signal_quality(self) -> SignalQuality:
        return await self._runner.run(self.sync.signal_quality)

    async def wait_registered(self, timeout: float = 60.0) -> str:
        return await self._runner.run(self.sync.wait_registered, timeout)

    def on_urc(self, callback: Callable[[str], Any] | None) -> None:
        """Call ``callback(line)`` on the event loop for every unsolicited line (a coroutine
        function is scheduled as a task); None stops it."""
        if callback is None:
            self.sync.on_urc(None)
            return
        loop = self._runner.loop

        def run(line: str) -> None:
            result = callback(line)
            if inspect.isawaitable(result):
                asyncio.ensure_future(result)

        def hop(line: str) -> None:
            try:
                loop.call_soon_threadsafe(run, line)
            except RuntimeError:
                log.debug("URC after the event loop closed: %r", line)

        self.sync.on_urc(hop)

    def transcript(self) -> list[tuple[float, str, bytes]]:
        return self.sync.transcript()

    def transcript_text(self) -> str:
        return self.sync.transcript_text()

    async def mqtt(self, client_id: str, index: int = 0, **options: Any) -> AsyncMqttClient:
        """Opens MQTT client ``index`` (options as :meth:`modemqtt.Modem.mqtt`)."""
        client = await self._runner.run(self.sync.mqtt, client_id, index, **options)
        wrapped = AsyncMqttClient(
            client, self._runner.loop, queue_size=int(options.get("queue_size", 10000))
        )
        self._clients.append(wrapped)
        return wrapped

    async def close(self) -> None:
        if self._modem is not None:
            await self._runner.run(self._modem.close)

    async def __aenter__(self) -> Modem:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<aio {self._modem!r}>" if self._modem else f"<aio Modem {self.port} not open>"

    def _repr_html_(self) -> str:
        if self._modem is None:
            return f"<b>Modem</b> <code>{self.port}</code> (not open)"
        return "<i>async</i> " + self._modem._repr_html_()


# `aio.MqttClient` reads naturally next to `aio.Modem`.
MqttClient = AsyncMqttClient

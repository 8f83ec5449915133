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
import warnings
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from types import TracebackType
from typing import Any, Callable, Generic, TypeVar

from . import (
    AliyunCoap,
    CoapResponse,
    Message,
    ModemInfo,
    ModemTimeout,
    Response,
    SignalQuality,
)
from . import Modem as _SyncModem
from . import MqttClient as _SyncClient
from ._core import topic_matches

__all__ = ["AsyncAliyunCoap", "AsyncMqttClient", "Modem", "MqttClient", "topic_matches"]

log = logging.getLogger("modemqtt.aio")
T = TypeVar("T")
S = TypeVar("S")
_C = TypeVar("_C", bound="_Face[Any]")


def _check_filter(topic_filter: str) -> None:
    """ValueError (naming ``topic``) unless ``topic_filter`` is a valid subscription filter."""
    try:
        topic_matches(topic_filter, "/")  # the core validates the filter before matching
    except ValueError as exc:
        raise ValueError(str(exc).replace("topic_filter:", "topic:", 1)) from None


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


class _Face(ABC, Generic[S]):
    """The async face of a blocking object; ``async with`` closes it (in a worker thread) on
    the way out."""

    _sync_obj: S

    @property
    def sync(self) -> S:
        """The underlying blocking object."""
        return self._sync_obj

    @abstractmethod
    async def close(self) -> None:
        """Closes the blocking object in a worker thread."""

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncMqttClient(_Face[_SyncClient]):
    """An :class:`modemqtt.MqttClient` with ``async`` methods.

    Received messages are buffered on the loop (at most ``queue_size``; beyond that the
    oldest is dropped, counted in :attr:`dropped` and logged).
    """

    def __init__(
        self, client: _SyncClient, loop: asyncio.AbstractEventLoop, queue_size: int = 10000
    ) -> None:
        self._sync_obj = self._client = client
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

    async def connect(self, host: str | None = None, port: int = 1883, **options: Any) -> None:
        """Connects (options as :meth:`modemqtt.MqttClient.connect`; the Alibaba firmware's
        client takes no ``host``)."""
        await self._runner.run(self._client.connect, host, port, **options)

    async def publish(self, topic: str, payload: bytes | str, qos: int = 0, **options: Any) -> None:
        """Publishes (options as :meth:`modemqtt.MqttClient.publish`: ``retain``, ``timeout``)."""
        await self._runner.run(self._client.publish, topic, payload, qos=qos, **options)

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

    def __repr__(self) -> str:
        return f"<aio {self._client!r}>"

    def _repr_html_(self) -> str:
        return "<i>async</i> " + self._client._repr_html_()


class AsyncAliyunCoap(_Face[AliyunCoap]):
    """An :class:`modemqtt.AliyunCoap` with ``async`` methods; made by
    :meth:`Modem.aliyun_coap`."""

    def __init__(self, coap: AliyunCoap, runner: _Runner) -> None:
        self._sync_obj = self._coap = coap
        self._runner = runner

    @property
    def profile(self) -> str:
        return self._coap.profile

    async def auth(self, timeout: float | None = None) -> None:
        await self._runner.run(self._coap.auth, timeout)

    async def send(
        self, topic: str, payload: bytes | str, timeout: float | None = None
    ) -> CoapResponse:
        return await self._runner.run(self._coap.send, topic, payload, timeout)

    async def receive(self, timeout: float | None = None) -> CoapResponse | None:
        return await self._runner.run(self._coap.receive, timeout)

    async def close(self, timeout: float | None = None) -> None:
        await self._runner.run(self._coap.close, timeout)

    def __repr__(self) -> str:
        return f"<aio {self._coap!r}>"


class Modem(_Face[_SyncModem]):
    """An :class:`modemqtt.Modem` with ``async`` methods.

    ``async with aio.Modem(port, ...) as modem:`` opens it in a worker thread; or
    ``modem = await aio.Modem(port).open()``. Arguments are those of :class:`modemqtt.Modem`
    (``dialect=`` is the deprecated old name of ``family=``).
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        timeout: float = 5.0,
        family: str | None = None,
        *,
        record: str | None = None,
        dialect: str | None = None,
    ) -> None:
        if dialect is not None:
            if family is not None:
                raise ValueError("family: give family= only (dialect= is its deprecated old name)")
            warnings.warn(
                "aio.Modem(dialect=...) is deprecated and will be removed in the next release: "
                "use aio.Modem(family=...)",
                DeprecationWarning,
                stacklevel=2,
            )
            family = dialect
        self._args = (port, baudrate, timeout, family)
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
    def family(self) -> str | None:
        """The MQTT command family learnt when the modem was opened."""
        return self.sync.family

    @property
    def dialect(self) -> str | None:
        """Deprecated name of :attr:`family`."""
        warnings.warn(
            "aio.Modem.dialect is deprecated and will be removed in the next release: "
            "use aio.Modem.family",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.sync.family

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

    async def registration(self) -> dict[str, str]:
        return await self._runner.run(self.sync.registration)

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

    def _wrap(self, client: _SyncClient, options: dict[str, Any]) -> AsyncMqttClient:
        wrapped = AsyncMqttClient(
            client, self._runner.loop, queue_size=int(options.get("queue_size", 10000))
        )
        self._clients.append(wrapped)
        return wrapped

    async def mqtt(self, client_id: str, index: int = 0, **options: Any) -> AsyncMqttClient:
        """Opens MQTT client ``index`` (options as :meth:`modemqtt.Modem.mqtt`)."""
        client = await self._runner.run(self.sync.mqtt, client_id, index, **options)
        return self._wrap(client, options)

    async def aliyun_mqtt(
        self, product_key: str, device_name: str, device_secret: str, **options: Any
    ) -> AsyncMqttClient:
        """Opens the MQTT client of SIMCom's Alibaba-cloud firmware (options as
        :meth:`modemqtt.Modem.aliyun_mqtt`); its ``connect()`` takes no host."""
        client = await self._runner.run(
            self.sync.aliyun_mqtt, product_key, device_name, device_secret, **options
        )
        return self._wrap(client, options)

    async def aliyun_coap(
        self, product_key: str, device_name: str, device_secret: str
    ) -> AsyncAliyunCoap:
        """Opens the CoAP client of SIMCom's Alibaba-cloud firmware (``AT+CC*``)."""
        coap = await self._runner.run(
            self.sync.aliyun_coap, product_key, device_name, device_secret
        )
        return AsyncAliyunCoap(coap, self._runner)

    async def close(self) -> None:
        if self._modem is not None:
            await self._runner.run(self._modem.close)

    async def __aenter__(self) -> Modem:
        return await self.open()

    def __repr__(self) -> str:
        return f"<aio {self._modem!r}>" if self._modem else f"<aio Modem {self.port} not open>"

    def _repr_html_(self) -> str:
        if self._modem is None:
            return f"<b>Modem</b> <code>{self.port}</code> (not open)"
        return "<i>async</i> " + self._modem._repr_html_()


# `aio.MqttClient` reads naturally next to `aio.Modem`.
MqttClient = AsyncMqttClient

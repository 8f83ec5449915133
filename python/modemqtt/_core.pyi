"""Type stubs for the compiled core, ``modemqtt._core`` (kept in step with src/py/)."""

import os
from collections.abc import Callable, Iterator, Mapping
from os import PathLike
from types import TracebackType
from typing import Any, final

from typing_extensions import Self, deprecated

__version__: str
__all__ = [
    "AliyunCoap",
    "CoapResponse",
    "CommandError",
    "Message",
    "Modem",
    "ModemError",
    "ModemInfo",
    "ModemTimeout",
    "MqttClient",
    "MqttError",
    "NetworkTiming",
    "NotConnectedError",
    "PortError",
    "ProtocolError",
    "ReplayMismatch",
    "Response",
    "SignalQuality",
    "Tls",
    "VirtualModem",
    "Will",
    "__version__",
    "aliyun_sign",
    "flush_logs",
    "profiles",
    "topic_matches",
]

# ----------------------------------------------------------------------------- exceptions

class ModemError(Exception):
    """Base class of every error the modem, the port or the MQTT stack reports."""

class ModemTimeout(ModemError):
    """No answer (final result, URC or message) arrived before the deadline."""

class CommandError(ModemError):
    """The modem answered ``ERROR``, ``+CME ERROR: <n>`` or ``+CMS ERROR: <n>``."""

    code: int | str | None
    """The +CME/+CMS error value (text in verbose mode), None for a plain ``ERROR``."""
    command: str
    """The command line that failed, secrets masked as ``***``."""

class MqttError(ModemError):
    """The modem's MQTT stack reported a result code other than success."""

    code: int
    """The family's result code (CMQTT: 0-35, see the manual's chapter 2.2.1)."""
    name: str
    """The manual's name for the code, e.g. ``"no connection"``."""
    operation: str
    """What failed: ``"connect"``, ``"publish"``, ``"subscribe"``, ..."""

class PortError(ModemError):
    """The port cannot be opened (missing, busy, not a serial port), or went away."""

class NotConnectedError(ModemError):
    """An MQTT operation (publish, subscribe, unsubscribe) before ``connect()`` or after
    ``disconnect()``; raised before anything is sent."""

class ProtocolError(ModemError):
    """The modem said something that cannot be parsed where it matters."""

class ReplayMismatch(ModemError):
    """The host did not send what a replayed recording holds (see ``VirtualModem.replay``)."""

# ----------------------------------------------------------------------------- values

@final
class Response:
    """What a command returned: its information lines and its final result code."""

    @property
    def lines(self) -> list[str]: ...
    @property
    def final(self) -> str: ...

@final
class ModemInfo:
    """Identification from AT+CGMI / AT+CGMM / AT+CGMR / AT+CGSN, and the MQTT family."""

    @property
    def manufacturer(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def revision(self) -> str: ...
    @property
    def imei(self) -> str: ...
    @property
    def family(self) -> str:
        """The MQTT command family in use, e.g. ``"cmqtt"`` (empty when none answers)."""
    @property
    @deprecated("ModemInfo.dialect: use ModemInfo.family")
    def dialect(self) -> str:
        """Deprecated old name of :attr:`family` (DeprecationWarning)."""

@final
class SignalQuality:
    """AT+CSQ: raw RSSI (0-31, 99 unknown), its dBm value and the bit error rate."""

    @property
    def rssi(self) -> int: ...
    @property
    def rssi_dbm(self) -> int | None:
        """``-113 + 2 * rssi``; None when the modem reports 99 (unknown)."""
    @property
    def ber(self) -> int | None:
        """0-7, None when the modem reports 99 (unknown)."""

@final
class Message:
    """One message received from the broker."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def qos(self) -> int | None:
        """None when the modem family does not report it (CMQTT)."""
    @property
    def retain(self) -> bool | None:
        """None when the modem family does not report it (CMQTT)."""
    @property
    def client_index(self) -> int: ...
    @property
    def received_at(self) -> float:
        """``time.time()`` when the last byte of the message arrived from the modem."""
    def text(self) -> str:
        """The payload decoded as UTF-8."""

@final
class Will:
    """The last-will message the broker publishes when the link drops without DISCONNECT."""

    def __new__(
        cls, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False
    ) -> Self: ...
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def qos(self) -> int: ...
    @property
    def retain(self) -> bool: ...

@final
class Tls:
    """TLS settings for ``MqttClient.connect``.

    A ``str`` or ``os.PathLike`` is a PEM file path, ``bytes`` the PEM content. The modem's
    authmode follows: ``verify_server`` with a client certificate 2, without 1;
    ``verify_server=False`` with a client certificate 3, without 0.
    """

    def __new__(
        cls,
        ca_cert: str | os.PathLike[str] | bytes | None = None,
        client_cert: str | os.PathLike[str] | bytes | None = None,
        client_key: str | os.PathLike[str] | bytes | None = None,
        *,
        verify_server: bool = True,
        ssl_version: int = 4,
        ignore_local_time: bool = True,
        negotiate_time: int = 300,
        context: int | None = None,
    ) -> Self: ...
    @property
    def verify_server(self) -> bool: ...

# ----------------------------------------------------------------------------- modem

@final
class Modem:
    """A cellular modem on a serial port (or ``sim://<profile>`` for a virtual one)."""

    def __new__(
        cls,
        port: str | PathLike[str],
        baudrate: int = 115200,
        timeout: float = 5.0,
        family: str | None = None,
        *,
        record: str | PathLike[str] | None = None,
        dialect: str | None = None,
    ) -> Self:
        """``family``: the MQTT command family, ``"auto"`` (the default: probed),
        ``"cmqtt"``, ``"qmt"``, ``"aliyun"`` or ``"sm"``; ``dialect`` is its deprecated old
        name.
        ``record``: also append the session's wire traffic (secrets masked) to this file
        as JSON lines, for ``VirtualModem.replay``; created before the port is opened."""
    @property
    def port(self) -> str: ...
    @property
    def family(self) -> str | None:
        """The MQTT command family learnt when the modem was opened (None if none answered)."""
    @property
    @deprecated("Modem.dialect: use Modem.family")
    def dialect(self) -> str | None:
        """Deprecated old name of :attr:`family` (DeprecationWarning)."""
    @property
    def closed(self) -> bool: ...
    def command(
        self, line: str, timeout: float | None = None, *, data: bytes | None = None
    ) -> Response:
        """Send one AT command line (no CR) and wait for its final result.

        ``data`` is written after the modem's ``>`` prompt. Raises CommandError on
        ``ERROR``/``+CME ERROR``, ModemTimeout when no final result arrives in time, and
        ValueError (before writing anything) for a line containing CR, LF or Ctrl-Z.
        """
    def info(self) -> ModemInfo:
        """Manufacturer, model, revision, IMEI (``AT+CGMI/CGMM/CGMR/CGSN``) and MQTT family."""
    def signal_quality(self) -> SignalQuality:
        """``AT+CSQ``: ``rssi`` (0-31, 99 unknown), ``rssi_dbm`` and ``ber`` (None if unknown)."""
    def wait_registered(self, timeout: float = 60.0) -> str:
        """Poll ``AT+CREG?``/``AT+CGREG?``/``AT+CEREG?`` until ``"home"`` or ``"roaming"``;
        ModemTimeout after ``timeout`` seconds."""
    def registration(self) -> dict[str, str]:
        """The state per registration query the modem answers, asked once, e.g.
        ``{"creg": "home", "cgreg": "home", "cereg": "searching"}`` (3GPP TS 27.007
        ``<stat>`` in words); a query the modem refuses with ERROR is left out."""
    def on_urc(self, callback: Callable[[str], None] | None) -> None:
        """Call ``callback`` with every unsolicited line (on the dispatch thread)."""
    def transcript(self) -> list[tuple[float, str, bytes]]:
        """Recent wire traffic as ``(time.time(), "tx" | "rx", bytes)``, secrets masked."""
    def transcript_text(self) -> str: ...
    def mqtt(
        self,
        client_id: str,
        index: int = 0,
        *,
        auto_reconnect: bool = False,
        reconnect_delay: tuple[float, float] = (1.0, 30.0),  # first and longest wait, s
        check_utf8: bool | None = None,  # CMQTT: None/False turn the module's check off
        op_timeout: int | None = None,
        publish_timeout: int = 60,
        queue_size: int = 10000,
        receive_mode: str | None = None,  # QMT: "buffer" (default) or "urc"
        protocol: str | None = None,  # QMT: "3.1" or "3.1.1" (default)
        pdp_context: int | None = None,  # QMT: 1-16 (default 1)
        packet_timeout: int | None = None,  # QMT: 1-60 s (default 5)
        retries: int | None = None,  # QMT: 1-10 (default 3)
        timeout_notice: bool | None = None,  # QMT (default False)
        aliauth: tuple[str, str, str] | None = None,  # QMT: product key, device name, secret
    ) -> MqttClient: ...
    def aliyun_mqtt(
        self,
        product_key: str,
        device_name: str,
        device_secret: str,
        *,
        request_timeout: int | None = None,
        mqtt_version: int | None = None,
        poll_interval: float = 0.5,
        yield_timeout: int = 100,
        auto_yield: bool | None = None,
        auto_yield_interval: int = 1,
        queue_size: int = 10000,
        auto_reconnect: bool = False,
        reconnect_delay: tuple[float, float] = (1.0, 30.0),
    ) -> MqttClient:
        """The MQTT client of SIMCom's Alibaba-cloud firmware (``AT+CM*``): product key
        <= 11, device name <= 32, device secret <= 64 characters. Receives by ``AT+CMYIELD``
        polls every ``poll_interval`` s (each yielding ``yield_timeout`` ms), or by
        ``AT+CMAUTOYIELD`` where the firmware has it. ``connect()`` takes no host."""
    def aliyun_coap(self, product_key: str, device_name: str, device_secret: str) -> AliyunCoap:
        """The CoAP client of SIMCom's Alibaba-cloud firmware (``AT+CC*``)."""
    def close(self, timeout: float | None = None) -> None:
        """Close the clients opened here (their polite goodbye) and free the port, within
        the modem's ``timeout`` in all (or ``timeout`` s), even if the modem does not answer."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

@final
class MqttClient:
    """One MQTT client of the modem's stack (CMQTT: index 0-1 on A7600/SIM7600)."""

    on_message: Callable[[Message], None] | None
    """Called (on the callback thread) with every message; each message also stays queued
    for ``wait_message()`` / ``messages()``: both see every message. Unread copies beyond
    ``queue_size`` give way, oldest first, uncounted while a callback is set."""
    on_disconnect: Callable[[int], None] | None
    on_connect: Callable[[], None] | None

    @property
    def client_id(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def dropped(self) -> int:
        """Messages nobody received: the queue was full (no callback set), or the callback
        was ``queue_size`` messages behind. Unread copies that give way while a callback is
        set are not counted (the callback had them)."""
    @property
    def received(self) -> int:
        """Messages received so far (delivered or dropped)."""
    def stats(self) -> dict[str, int]:
        """Counters: received, dropped, queued, published, disconnects, reconnects."""
    def subscriptions(self) -> list[tuple[str, int]]:
        """The topic filters currently subscribed, with their QoS."""
    def capabilities(self) -> dict[str, Any]:
        """What the modem's MQTT stack allows: ``family``, ``profile``, ``clients``,
        ``topic_max``, ``payload_max``, ``max_qos``, ``tls``, ``will``, ``retain``, ..."""
    def connect(
        self,
        host: str | None = None,
        port: int = 1883,
        keepalive: int = 60,
        clean_session: bool = True,
        username: str | None = None,
        password: str | None = None,
        will: Will | None = None,
        tls: Tls | None = None,
        timeout: float = 30.0,
    ) -> None: ...
    def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int = 0,
        retain: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Publish and return once the modem reports the broker's result."""
    def subscribe(
        self, topic: str | list[tuple[str, int]], qos: int = 0, timeout: float | None = None
    ) -> None: ...
    def unsubscribe(self, topic: str | list[str], timeout: float | None = None) -> None: ...
    def disconnect(self, timeout: float | None = None) -> None: ...
    def close(self, timeout: float | None = None) -> None:
        """Disconnect and release the client, within the modem's ``timeout`` in all (or
        ``timeout`` s); a modem that does not answer in time is logged, not raised."""
    def is_connected(self) -> bool: ...
    def wait_message(self, topic: str | None = None, timeout: float = 10.0) -> Message:
        """The next message (matching the MQTT filter ``topic``), or ModemTimeout. Sees every
        message, also while ``on_message`` is set; non-matching ones stay queued."""
    def messages(self, timeout: float = 1.0) -> Iterator[Message]:
        """Yield messages until none arrives within ``timeout`` seconds (every message, also
        while ``on_message`` is set)."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

# ----------------------------------------------------------------------------- virtual modem

@final
class NetworkTiming:
    """How long what comes from the network (connect / subscribe / publish results, received
    messages, link losses) takes to reach the host: ``delay`` seconds plus a jitter drawn
    from ``[0, jitter]`` by a generator seeded with ``seed`` (same seed, same delays). Each
    is at most 60 s. The AT answers (``OK``) do not wait for it."""

    def __new__(cls, delay: float, jitter: float = 0.0, seed: int = 1) -> Self: ...
    @staticmethod
    def preset(name: str, profile: str) -> NetworkTiming:
        """``"fast"`` (no delay, the default) or ``"realistic"`` (the round trip of the
        profile's radio: LTE Cat-1/4, LTE-M or NB-IoT; see docs/virtual-modem.md)."""
    @property
    def delay(self) -> float: ...
    @property
    def jitter(self) -> float: ...
    @property
    def seed(self) -> int: ...
    def delays(self, n: int) -> list[float]:
        """The first ``n`` delays (seconds) a modem with this timing uses, in order."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class VirtualModem:
    """A modem imitated on a pty that speaks real MQTT to a real broker.

    ``broker=None`` starts the embedded broker; otherwise e.g. ``"mqtt://127.0.0.1:1883"``.
    ``listen="127.0.0.1:0"`` also serves it over raw TCP (see ``tcp_url``); while a TCP host
    is connected the modem answers there instead of on the pty.

    Host names: a client's host resolves only if it is ``localhost`` or a loopback address
    (used as given), ``"broker.example.org"`` (the broker), or a name in ``hosts`` (``None``:
    the broker; ``"host"`` or ``"host:port"``: there). Any other name fails with the family's
    DNS error, any other IP address with its connect error, as on a real network.

    ``timing`` is the network timing: ``"fast"`` (default), ``"realistic"`` or a
    ``NetworkTiming``.
    """

    def __new__(
        cls,
        profile: str = "a7600",
        broker: str | None = None,
        *,
        part_size: int | None = None,
        listen: str | None = None,
        hosts: Mapping[str, str | None] | None = None,
        timing: str | NetworkTiming | None = None,
    ) -> Self:
        """``profile="replay:<path>"`` is the same as ``VirtualModem.replay(path)``."""
    @staticmethod
    def replay(path: str | PathLike[str]) -> VirtualModem:
        """Plays back a recording (``Modem(..., record=path)``, ``modemqtt record``) and checks
        that the host sends what was recorded. Leaving the ``with`` block raises
        ReplayMismatch if it did not. Fault injection is not available on a replay."""
    @property
    def port(self) -> str: ...
    @property
    def tcp_url(self) -> str | None:
        """``"socket://HOST:PORT"`` when serving over TCP (``listen=``), else None."""
    @property
    def broker_url(self) -> str:
        """The broker's url; ``""`` for a replay."""
    @property
    def profile(self) -> str:
        """The profile name, or ``"replay:<path>"``."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` (or the end of the ``with`` block) stopped it."""
    def _repr_html_(self) -> str: ...
    def check(self, complete: bool = True) -> None:
        """Replays only: raise ReplayMismatch if the host strayed from the recording or (with
        ``complete``) has not sent all of it yet."""
    def replay_status(self) -> dict[str, Any]:
        """Replays only: ``steps``, ``position``, ``complete``, ``host_bytes``, ``mismatch``."""
    def drop_link(self, client_index: int = 0, cause: int | None = None) -> None:
        """Close the client's TCP link abruptly (the broker sends its will), then report
        it as the family does: ``+CMQTTCONNLOST: <client_index>,<cause>`` (CMQTT, 1-3),
        ``+QMTSTAT: <client_index>,<cause>`` (QMT, 1-7), ``+CMYIELD: 1`` at the next yield
        (Alibaba, 1-3), ``+SMSTATE: 0`` (SM, 1), ``+UUMQTTC: 0,<cause>`` (u-blox, 100-102),
        ``+MQTTDISCONNECTED:0`` (ESP-AT, 1; 2 is a Wi-Fi loss). ``cause`` defaults to the
        first of the profile's range."""
    def pdp_deactivate(self, cid: int = 1) -> None:
        """QMT profiles: drop every link on PDP context ``cid``, then report
        ``+QIURC: "pdpdeact",<cid>``; the context stays down until ``AT+QIACT`` or
        ``AT+QMTOPEN`` brings it up."""
    def reboot(self) -> None: ...
    def force_coap_response(self, code: int | None) -> None:
        """Alibaba profiles: CoAP sends answer ``code`` (e.g. 0x80); None: 0x45 again."""
    def force_coap_auth_error(self, code: int) -> None:
        """Alibaba profiles: the next ``AT+CCAUTH`` fails with ``code``."""
    def force_coap_send_error(self, code: int) -> None:
        """Alibaba profiles: the next ``AT+CCSEND`` fails with ``code``."""
    def set_sign_timestamp(self, on: bool) -> None:
        """Alibaba profiles: sign the MQTT login with a timestamp (default) or without."""
    def set_chunk_size(self, n: int | None) -> None:
        """Deliver output to the host in pieces of ``n`` bytes (None: as it comes)."""
    def set_baudrate(self, baud: int | None) -> None:
        """Pace output as a UART at ``baud`` bits/s would (10 bits a byte); None: unpaced."""
    def inject_noise(self, data: bytes) -> None: ...
    def set_response_delay(self, seconds: float) -> None: ...
    @property
    def timing(self) -> NetworkTiming:
        """The network timing (a replay: the zero timing, it plays as recorded)."""
    def set_timing(self, timing: str | NetworkTiming) -> None:
        """Change the network timing; what is already on its way keeps its time."""
    def refuse(self, command_prefix: str | None, reply: str = "ERROR") -> None:
        """Answer commands starting with ``command_prefix`` with ``reply`` (None: stop)."""
    def set_part_size(self, n: int) -> None:
        """Split received topics and payloads into +CMQTTRX* parts of at most ``n`` bytes."""
    def stats(self) -> dict[str, int]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None: ...

def flush_logs() -> None:
    """Wait (at most 2 s) until the core's log records so far have reached ``logging``:
    a thread of their own passes them on, so that no thread of the core ever waits for the
    interpreter while it holds a lock."""

def families() -> list[tuple[str, str]]:
    """The MQTT command families of this build as ``(name, probe_command)``."""

@deprecated("dialects(): use families()")
def dialects() -> list[tuple[str, str]]:
    """Deprecated old name of :func:`families` (DeprecationWarning)."""

def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches the MQTT subscription filter (``+`` one level, ``#`` the
    rest; a wildcard first does not match ``$`` topics). ValueError for an invalid filter
    (``topic_filter: ...``) or topic name (``topic: ...``)."""

def profiles() -> list[str]:
    """The virtual modem profiles: ``["a7600", "sim7600", "sim7028", "ec20", "ec25", "eg91",
    "bg96", "sim7600-aliyun", "sim7000-aliyun", "sim7080"]``."""

@final
class CoapResponse:
    """The server's answer to an Alibaba CoAP send."""

    @property
    def code(self) -> int:
        """CoAP response code: 0x45, 0x80, 0x81, 0x84, 0x8E, 0xA0 ..."""
    @property
    def name(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def ok(self) -> bool:
        """Whether the code is 0x45."""

@final
class AliyunCoap:
    """The CoAP client of SIMCom's Alibaba-cloud firmware; made by ``Modem.aliyun_coap``."""

    @property
    def profile(self) -> str: ...
    def auth(self, timeout: float | None = None) -> None: ...
    def send(self, topic: str, payload: bytes | str, timeout: float | None = None) -> CoapResponse:
        """Send to ``topic`` (<= 64 characters; payload <= 1024 bytes of UTF-8 text),
        authenticating first if needed. Raises MqttError with the manual's code and name."""
    def receive(self, timeout: float | None = None) -> CoapResponse | None:
        """``AT+CCYIELD``: the response the modem holds, if any."""
    def close(self, timeout: float | None = None) -> None:
        """``AT+CCDEINIT``, within the modem's ``timeout`` (or ``timeout`` s)."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

def aliyun_sign(
    product_key: str,
    device_name: str,
    device_secret: str,
    client_id: str | None = None,
    timestamp: str | None = None,
    method: str = "hmacsha1",
) -> tuple[str, str, str]:
    """The Alibaba IoT platform's MQTT login ``(client_id, username, password)``."""

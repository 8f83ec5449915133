"""Type stubs for the compiled core, ``modemqtt._core`` (kept in step with src/py/)."""

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import final

from typing_extensions import Self

__version__: str
__all__: list[str]

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
    """The port cannot be opened, or went away (unplugged, closed)."""

class ProtocolError(ModemError):
    """The modem said something that cannot be parsed where it matters."""

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
    """Identification from AT+CGMI / AT+CGMM / AT+CGMR / AT+CGSN, and the MQTT dialect."""

    @property
    def manufacturer(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def revision(self) -> str: ...
    @property
    def imei(self) -> str: ...
    @property
    def dialect(self) -> str:
        """The AT command family in use, e.g. ``"cmqtt"``."""

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
    """TLS settings for ``MqttClient.connect``. A ``str`` is a PEM file path, ``bytes`` PEM."""

    def __new__(
        cls,
        ca_cert: str | bytes | None = None,
        client_cert: str | bytes | None = None,
        client_key: str | bytes | None = None,
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
        cls, port: str, baudrate: int = 115200, timeout: float = 5.0, dialect: str = "auto"
    ) -> Self: ...
    @property
    def port(self) -> str: ...
    @property
    def dialect(self) -> str: ...
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
    def info(self) -> ModemInfo: ...
    def signal_quality(self) -> SignalQuality: ...
    def wait_registered(self, timeout: float = 60.0) -> str:
        """Poll the registration state until ``"home"`` or ``"roaming"``."""
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
        reconnect_delay: tuple[float, float] = ...,  # (1.0, 30.0): first and longest wait, s
        check_utf8: bool | None = None,
        op_timeout: int | None = None,
        publish_timeout: int = 60,
        queue_size: int = 10000,
    ) -> MqttClient: ...
    def close(self) -> None: ...
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
    on_disconnect: Callable[[int], None] | None
    on_connect: Callable[[], None] | None

    @property
    def client_id(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def dropped(self) -> int:
        """Messages dropped because the receive queue was full."""
    @property
    def received(self) -> int:
        """Messages received so far (delivered or dropped)."""
    def subscriptions(self) -> list[tuple[str, int]]:
        """The topic filters currently subscribed, with their QoS."""
    def connect(
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
    def close(self) -> None: ...
    def is_connected(self) -> bool: ...
    def wait_message(self, topic: str | None = None, timeout: float = 10.0) -> Message:
        """The next message (matching the MQTT filter ``topic``), or ModemTimeout."""
    def messages(self, timeout: float = 1.0) -> Iterator[Message]:
        """Yield messages until none arrives within ``timeout`` seconds."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

# ----------------------------------------------------------------------------- virtual modem

@final
class VirtualModem:
    """A modem imitated on a pty that speaks real MQTT to a real broker.

    ``broker=None`` starts the embedded broker; otherwise e.g. ``"mqtt://127.0.0.1:1883"``.
    ``listen="127.0.0.1:0"`` also serves it over raw TCP (see ``tcp_url``); while a TCP host
    is connected the modem answers there instead of on the pty.
    """

    def __new__(
        cls,
        profile: str = "a7600",
        broker: str | None = None,
        *,
        part_size: int = 1024,
        listen: str | None = None,
    ) -> Self: ...
    @property
    def port(self) -> str: ...
    @property
    def tcp_url(self) -> str | None:
        """``"socket://HOST:PORT"`` when serving over TCP (``listen=``), else None."""
    @property
    def broker_url(self) -> str: ...
    @property
    def profile(self) -> str: ...
    def drop_link(self, client_index: int = 0, cause: int = 1) -> None:
        """Close the client's TCP link abruptly (the broker sends its will), then report
        ``+CMQTTCONNLOST: <client_index>,<cause>``."""
    def reboot(self) -> None: ...
    def set_chunk_size(self, n: int | None) -> None:
        """Deliver output to the host in pieces of ``n`` bytes (None: as it comes)."""
    def inject_noise(self, data: bytes) -> None: ...
    def set_response_delay(self, seconds: float) -> None: ...
    def refuse(self, command_prefix: str | None, reply: str = "ERROR") -> None:
        """Answer commands starting with ``command_prefix`` with ``reply`` (None: stop)."""
    def set_part_size(self, n: int) -> None:
        """Split received topics and payloads into +CMQTTRX* parts of at most ``n`` bytes."""
    def stats(self) -> dict[str, int]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

def profiles() -> list[str]:
    """The virtual modem profiles: ``["a7600", "sim7600", "sim7028"]``."""

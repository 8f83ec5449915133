"""A scripted modem on a pseudo-terminal.

The host under test opens ``ScriptedModem.path`` (the pty slave) like a serial port. A thread
on the master side plays the modem: every command line the host writes (ended by CR or LF) is
matched against a list of rules, first match wins, and the rule's reply bytes are written back,
at once, late, in small chunks, or never. Everything the host wrote is recorded so tests can
assert on the exact bytes that went out.

Nothing here imports modemqtt: the helper is tested on its own with pyserial
(test_scripted_modem.py), so a failure in the core suites cannot come from an untested double.
"""

from __future__ import annotations

import heapq
import itertools
import os
import re
import select
import threading
import time
import tty
from dataclasses import dataclass
from typing import Callable, Union

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
PROMPT = b"\r\n>"
_CONTROL = "".join(map(chr, range(0x20))) + "\x7f"

# A reply is bytes, a function of the regex match returning bytes, or None (stay silent).
Reply = Union[bytes, Callable[["re.Match[str]"], bytes], None]


def resp(*lines: str, final: str = "OK") -> bytes:
    """Bytes a V.250 modem in verbose mode (ATV1) sends: information lines, then the final."""
    body = b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines)
    return body + b"\r\n" + final.encode() + b"\r\n"


@dataclass
class Rule:
    """How the scripted modem answers a command line that fully matches ``pattern``."""

    pattern: str
    reply: Reply = OK
    delay: float = 0.0  # seconds between the command's CR and the reply
    times: int | None = None  # how many commands this rule answers; None: any number
    # after the reply, read this many raw bytes (the data after a '>' prompt); an int, or a
    # function of the match (e.g. the length the command announced)
    data: int | Callable[[re.Match[str]], int] | None = None
    after_data: Reply = OK  # sent once the raw bytes have arrived

    def __post_init__(self) -> None:
        self.regex = re.compile(self.pattern)


class ScriptedModem:
    """A modem played from a script on the master side of a pty (see the module docstring).

    ``default_ok``: commands that start with ``AT`` and match no rule get ``OK`` (or ``ERROR``
    when False), so a host's setup sequence passes without scripting every command. Lines that
    do not start with ``AT`` are ignored, as real modems do. ``echo``: echo every command line
    back (a modem that ignores ``ATE0``). ``chunk_size``: write replies in pieces this large.
    """

    def __init__(
        self,
        rules: list[Rule] | None = None,
        *,
        default_ok: bool = True,
        echo: bool = False,
        chunk_size: int | None = None,
    ) -> None:
        self.rules: list[Rule] = list(rules or [])
        self.default_ok = default_ok
        self.echo = echo
        self.chunk_size = chunk_size

        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        # Keeping our own slave descriptor open means the master never sees EIO when the host
        # closes the port, so the host can close and reopen it like a real device.
        self.path: str = os.ttyname(self._slave)

        self._cond = threading.Condition()
        self._host = bytearray()  # every byte the host wrote
        self._sent = bytearray()  # every byte the modem wrote
        self.commands: list[str] = []
        self.data_blocks: list[bytes] = []
        self._line = bytearray()
        self._data_left = 0
        self._data_buf = bytearray()
        self._data_reply: bytes = OK
        self._queue: list[tuple[float, int, bytes]] = []
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="scripted-modem", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- script
    def on(self, pattern: str, reply: Reply = OK, **kwargs: object) -> ScriptedModem:
        """Add a rule (see ``Rule``); earlier rules take precedence. Returns self."""
        with self._cond:
            self.rules.append(Rule(pattern, reply, **kwargs))  # type: ignore[arg-type]
        return self

    def send(self, data: bytes, delay: float = 0.0) -> None:
        """Write unsolicited bytes (a URC, noise) to the host, after ``delay`` seconds."""
        self._schedule(data, delay)

    # ----------------------------------------------------------------- records
    @property
    def host_bytes(self) -> bytes:
        """Everything the host has written so far."""
        with self._cond:
            return bytes(self._host)

    @property
    def sent_bytes(self) -> bytes:
        """Everything the scripted modem has written so far."""
        with self._cond:
            return bytes(self._sent)

    def wait_for_command(self, pattern: str, timeout: float = 5.0) -> str:
        """Block until the host sent a command line fully matching ``pattern``; return it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.commands:
                    if regex.fullmatch(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"host never sent {pattern!r}; commands so far: {self.commands!r}"
                    )
                self._cond.wait(left)

    def wait_sent(self, data: bytes, timeout: float = 5.0) -> None:
        """Block until the scripted modem has written ``data`` (anywhere in its output)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while data not in self._sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"scripted modem never sent {data!r}")
                self._cond.wait(left)

    # ----------------------------------------------------------------- lifecycle
    def unplug(self) -> None:
        """Simulate pulling the USB cable: both ends of the pty go away at once."""
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> ScriptedModem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- internals
    def _schedule(self, data: bytes, delay: float) -> None:
        if not data:
            return
        with self._cond:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), data))

    def _write(self, data: bytes) -> None:
        step = self.chunk_size or len(data)
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            view = memoryview(piece)
            while view:
                n = os.write(self._master, view)
                view = view[n:]
            with self._cond:
                self._sent += piece
                self._cond.notify_all()
            if self.chunk_size:
                time.sleep(0.001)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                now = time.monotonic()
                due = []
                while self._queue and self._queue[0][0] <= now:
                    due.append(heapq.heappop(self._queue)[2])
                wait = 0.05
                if self._queue:
                    wait = max(0.0, min(wait, self._queue[0][0] - now))
            for data in due:
                try:
                    self._write(data)
                except OSError:
                    return
            if due:
                continue
            try:
                readable, _, _ = select.select([self._master], [], [], wait)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                time.sleep(0.01)
                continue
            if chunk:
                self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        with self._cond:
            self._host += chunk
            self._cond.notify_all()
        for b in chunk:
            if self._data_left:
                self._data_buf.append(b)
                self._data_left -= 1
                if not self._data_left:
                    with self._cond:
                        self.data_blocks.append(bytes(self._data_buf))
                        self._cond.notify_all()
                    self._data_buf.clear()
                    self._schedule(self._data_reply, 0.0)
                continue
            if b in (0x0D, 0x0A):
                # Control bytes before a command (ESC or Ctrl-Z that a host sends to leave a
                # stale prompt) are dropped, as a modem in command mode does.
                line = bytes(self._line).decode("latin-1").lstrip(_CONTROL)
                self._line.clear()
                if line:
                    self._command(line)
                continue
            self._line.append(b)

    def _command(self, line: str) -> None:
        with self._cond:
            self.commands.append(line)
            self._cond.notify_all()
            rule = None
            match = None
            for candidate in self.rules:
                if candidate.times is not None and candidate.times <= 0:
                    continue
                match = candidate.regex.fullmatch(line)
                if match:
                    rule = candidate
                    if candidate.times is not None:
                        candidate.times -= 1
                    break
        if self.echo:
            self._schedule(line.encode("latin-1") + b"\r", 0.0)
        if rule is None:
            if line[:2].upper() == "AT":
                self._schedule(OK if self.default_ok else ERROR, 0.0)
            return
        assert match is not None
        reply = rule.reply
        if callable(reply):
            reply = reply(match)
        if reply is not None:
            self._schedule(reply, rule.delay)
        if rule.data is not None:
            count = rule.data(match) if callable(rule.data) else rule.data
            after = rule.after_data(match) if callable(rule.after_data) else rule.after_data
            self._data_reply = after or b""
            self._data_left = count
            if count == 0:
                with self._cond:
                    self.data_blocks.append(b"")
                self._schedule(self._data_reply, rule.delay)

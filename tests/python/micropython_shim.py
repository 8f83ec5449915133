"""Just enough of MicroPython's ``machine`` and ``neopixel`` modules to run a MicroPython modem
driver (Sixfab's pico_lte) unmodified on CPython, its modem UART wired to a serial device
(the virtual modem's pty).

``install(port, deadline)`` puts the two modules into ``sys.modules``: ``machine.UART(0, ...)``
then opens ``port`` in raw mode, any other UART number (pico_lte's debug UART) swallows what
is written to it. ``machine.Pin`` reads 0, which pico_lte takes as "modem powered on".

Result URCs (``+QMTOPEN``, ``+QMTCONN``, ...) follow their command's ``OK`` only after a
network round trip on a real module; pico_lte reads the line once per 0.1 s and drops what came
after the ``OK`` in the same read, so it needs that round trip: run it against a virtual modem
with the ``realistic`` network timing (``VirtualModem(profile, timing="realistic")``).

Every wait of the driver is bounded: it polls ``UART.any()`` between sleeps, and ``any()``
raises ``DriverDeadline`` once ``deadline`` (a ``time.monotonic()`` value) has passed, which
ends the driver's call whatever its own retry counts say. ``transcript`` keeps the bytes in
both directions, so a test checks the wire rather than the driver's parsing of it.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty
import types
from typing import Any, ClassVar


class DriverDeadline(Exception):
    """The driver was still waiting on the modem when the test's deadline passed."""


class Pin:
    """A GPIO that reads 0 and ignores writes (pico_lte's status pin reads 0 when powered)."""

    IN = 0
    OUT = 1
    PULL_UP = 2
    PULL_DOWN = 3

    def __init__(self, pin_id: Any, mode: int = -1, *args: Any, **kwargs: Any) -> None:
        self.id = pin_id
        self._value = 0

    def value(self, v: int | None = None) -> int | None:
        if v is None:
            return self._value
        self._value = int(v)
        return None

    def on(self) -> None:
        self._value = 1

    def off(self) -> None:
        self._value = 0


class UART:
    """``machine.UART``: number 0 is the modem's line, the others go nowhere."""

    port: ClassVar[str | None] = None
    deadline: ClassVar[float] = 0.0
    # (direction, bytes): ">" written by the driver, "<" read by it, in order.
    transcript: ClassVar[list[tuple[str, bytes]]] = []
    opened: ClassVar[list[UART]] = []

    def __init__(self, uart_id: int, baudrate: int = 115200, **kwargs: Any) -> None:
        self.fd: int | None = None
        # Bytes the driver may read now.
        self.pending = b""
        if uart_id == 0:
            if UART.port is None:
                raise RuntimeError("micropython_shim.install() was not called")
            self.fd = os.open(UART.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(self.fd, termios.TCSANOW)
            UART.opened.append(self)

    def _check_deadline(self) -> None:
        if time.monotonic() > UART.deadline:
            raise DriverDeadline("the driver's wait outlived the test's deadline")

    def write(self, data: bytes | str) -> int:
        if isinstance(data, str):
            data = data.encode()
        if self.fd is None:
            return len(data)
        self._check_deadline()
        UART.transcript.append((">", bytes(data)))
        view = memoryview(data)
        while view:
            self._check_deadline()
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                select.select([], [self.fd], [], 0.05)
                continue
            view = view[n:]
        return len(data)

    def any(self) -> int:
        if self.fd is None:
            return 0
        self._check_deadline()
        while select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 4096)
            except BlockingIOError:
                break
            if not chunk:
                break
            UART.transcript.append(("<", chunk))
            self.pending += chunk
        return len(self.pending)

    def read(self, n: int | None = None) -> bytes | None:
        self.any()
        if not self.pending:
            return None
        if n is None:
            n = len(self.pending)
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class NeoPixel:
    """``neopixel.NeoPixel``: keeps the colours, shows nothing."""

    def __init__(self, pin: Pin, n: int) -> None:
        self.pixels = [(0, 0, 0)] * n

    def __setitem__(self, i: int, colour: tuple[int, int, int]) -> None:
        self.pixels[i] = colour

    def write(self) -> None:
        pass


def install(port: str, deadline: float) -> None:
    """Registers ``machine`` and ``neopixel`` and wires UART 0 to ``port`` until ``deadline``."""
    machine = types.ModuleType("machine")
    machine.Pin = Pin  # type: ignore[attr-defined]
    machine.UART = UART  # type: ignore[attr-defined]
    neopixel = types.ModuleType("neopixel")
    neopixel.NeoPixel = NeoPixel  # type: ignore[attr-defined]
    sys.modules["machine"] = machine
    sys.modules["neopixel"] = neopixel
    UART.port = port
    UART.deadline = deadline
    UART.transcript = []


def uninstall() -> None:
    """Closes the UARTs opened since ``install`` and forgets the port."""
    for u in UART.opened:
        u.close()
    UART.opened = []
    UART.port = None


def pull() -> None:
    """Takes what the line holds into UART 0's input, as its FIFO would hold it until the
    driver reads (so a test can wait for a URC without the driver reading)."""
    for u in UART.opened:
        u.any()


def wire() -> tuple[bytes, bytes]:
    """(everything the driver wrote, everything it read) so far."""
    sent = b"".join(b for d, b in UART.transcript if d == ">")
    got = b"".join(b for d, b in UART.transcript if d == "<")
    return sent, got

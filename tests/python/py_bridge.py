"""A serial bridge played by a Python thread, as users' own simulators and proxies are.

``PyBridge(target)`` opens the pty ``target`` (a virtual modem's port) and offers a new pty
at ``PyBridge.path``; a Python thread copies bytes both ways. While the library waits on the
modem with the interpreter attached, this thread cannot run, so a call that does so stalls
until its own timeout instead of returning at once: the lifecycle tests rely on that.
``hold()`` stops the copying (the modem seems hung), ``release()`` resumes it.

Nothing here imports modemqtt.
"""

from __future__ import annotations

import os
import select
import threading
import tty


class PyBridge:
    def __init__(self, target: str) -> None:
        self._modem = os.open(target, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._modem)
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        # Keep the slave open so the master never reads EIO while the host reopens it.
        self._slave = slave
        self._held = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._from_host = bytearray()
        self._thread = threading.Thread(target=self._run, name="py-bridge", daemon=True)
        self._thread.start()

    def hold(self) -> None:
        """Stop copying: the host's commands get no answer until ``release()``."""
        self._held.set()

    def release(self) -> None:
        self._held.clear()

    def host_bytes(self) -> bytes:
        """Everything the host wrote so far."""
        with self._lock:
            return bytes(self._from_host)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self._master, self._slave, self._modem):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> PyBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._held.is_set():
                self._stop.wait(0.01)
                continue
            try:
                ready, _, _ = select.select([self._master, self._modem], [], [], 0.05)
            except (OSError, ValueError):
                return
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    # The host closed its side (EIO on the master): wait for a reopen.
                    continue
                if not data:
                    continue
                if fd == self._master:
                    with self._lock:
                        self._from_host += data
                    os.write(self._modem, data)
                else:
                    os.write(self._master, data)

"""Notebook niceties: an HTML wire transcript and a live view of received messages.

``Modem``, ``MqttClient`` and ``Message`` render themselves as HTML in Jupyter already;
this module adds::

    from modemqtt.notebook import Transcript, MessageView

    Transcript.of(modem)            # the recent wire traffic as a table (secrets masked)
    Transcript.load("s.jsonl")      # a recording (Modem(..., record=...), modemqtt record)
    view = MessageView(client)      # a cell output that updates as messages arrive
    view                            # (last expression of a cell) shows it

ipywidgets is used when installed; otherwise the view updates an ``IPython.display``
handle. IPython itself is needed only to display a live view.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from os import PathLike
from typing import Any, Callable

from . import Message, MqttClient

__all__ = ["Transcript", "TranscriptEntry", "MessageView"]


def _escape_bytes(data: bytes) -> str:
    """Printable ASCII as is, CR/LF/backslash and other bytes escaped (as in logs)."""
    out = []
    for b in data:
        if b == 0x0D:
            out.append("\\r")
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


@dataclass(frozen=True)
class TranscriptEntry:
    """One chunk of wire traffic."""

    time: float
    """``time.time()`` when the chunk was written or read."""
    direction: str
    """``"tx"`` (host to modem) or ``"rx"`` (modem to host)."""
    data: bytes


class Transcript:
    """Wire traffic (secrets already masked by the core) with text and HTML renderings."""

    def __init__(self, entries: Iterable[tuple[float, str, bytes]]) -> None:
        self.entries = [TranscriptEntry(float(t), str(d), bytes(b)) for t, d, b in entries]
        for e in self.entries:
            if e.direction not in ("tx", "rx"):
                raise ValueError(f"direction: must be 'tx' or 'rx', got {e.direction!r}")

    @classmethod
    def of(cls, modem: Any) -> Transcript:
        """The recent traffic of a :class:`modemqtt.Modem` (or an ``aio.Modem``)."""
        return cls(modem.transcript())

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Transcript:
        """A recording written by ``Modem(..., record=path)`` or ``modemqtt record``."""
        entries = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}: line {n}: not JSON: {exc}") from None
                if "modemqtt_recording" in doc:
                    continue
                try:
                    entries.append((doc["t"], doc["dir"], doc["data"].encode("latin-1")))
                except (KeyError, AttributeError, UnicodeEncodeError) as exc:
                    raise ValueError(f"{path}: line {n}: not a recording entry: {exc}") from None
        return cls(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[TranscriptEntry]:
        return iter(self.entries)

    def text(self) -> str:
        """One line per chunk: time, direction, escaped bytes."""
        return "\n".join(
            f"{e.time:.3f} {e.direction} {_escape_bytes(e.data)}" for e in self.entries
        )

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Transcript {len(self.entries)} chunks>"

    def _repr_html_(self) -> str:
        if not self.entries:
            return "<i>empty transcript</i>"
        t0 = self.entries[0].time
        rows = []
        for e in self.entries:
            color = "#1f5fbf" if e.direction == "tx" else "#2b7a2b"
            arrow = "&rarr; modem" if e.direction == "tx" else "&larr; modem"
            rows.append(
                f"<tr><td style='text-align:right'>+{e.time - t0:.3f}&nbsp;s</td>"
                f"<td style='color:{color}'>{arrow}</td>"
                f"<td style='text-align:left'><code>{html.escape(_escape_bytes(e.data))}</code>"
                "</td></tr>"
            )
        return (
            f"<b>Transcript</b> ({len(self.entries)} chunks)"
            "<table><tr><th>time</th><th>direction</th><th>bytes</th></tr>"
            + "".join(rows)
            + "</table>"
        )


def _message_row(msg: Message) -> str:
    try:
        text = msg.payload.decode("utf-8")
    except UnicodeDecodeError:
        text = _escape_bytes(msg.payload)
    if len(text) > 200:
        text = text[:200] + "..."
    when = time.strftime("%H:%M:%S", time.localtime(msg.received_at))
    return (
        f"<tr><td>{when}</td><td><code>{html.escape(msg.topic)}</code></td>"
        f"<td style='text-align:right'>{len(msg.payload)}</td>"
        f"<td style='text-align:left'><code>{html.escape(text)}</code></td></tr>"
    )


class MessageView:
    """A live table of the messages a client receives, for a notebook cell.

    Takes over ``client.on_message`` (calling the previous callback too) until
    :meth:`stop`. Keeps the last ``max_rows`` messages in :attr:`messages`.
    """

    def __init__(self, client: MqttClient | Any, max_rows: int = 20) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows: must be at least 1, got {max_rows}")
        sync = getattr(client, "sync", client)  # an aio client wraps a blocking one
        self._client = sync
        self.max_rows = max_rows
        self.messages: deque[Message] = deque(maxlen=max_rows)
        self.count = 0
        self._lock = threading.Lock()
        self._previous: Callable[[Message], Any] | None = sync.on_message
        self._widget: Any = None
        self._handle: Any = None
        sync.on_message = self._on_message

    def _on_message(self, msg: Message) -> None:
        with self._lock:
            self.messages.append(msg)
            self.count += 1
        self._refresh()
        if self._previous is not None:
            self._previous(msg)

    def _repr_html_(self) -> str:
        with self._lock:
            msgs = list(self.messages)
            count = self.count
        state = "live" if self._client.on_message == self._on_message else "stopped"
        head = (
            f"<b>Messages</b> on client <code>{html.escape(self._client.client_id)}</code>: "
            f"{count} received ({state}, last {self.max_rows} shown)"
        )
        if not msgs:
            return head + "<br><i>none yet</i>"
        return (
            head
            + "<table><tr><th>time</th><th>topic</th><th>bytes</th><th>payload</th></tr>"
            + "".join(_message_row(m) for m in reversed(msgs))
            + "</table>"
        )

    def _refresh(self) -> None:
        if self._widget is not None:
            self._widget.value = self._repr_html_()
        elif self._handle is not None:
            from IPython.display import HTML

            self._handle.update(HTML(self._repr_html_()))

    def display(self) -> None:
        """Shows the view in the current cell; it then updates in place."""
        try:
            from IPython.display import HTML, display
        except ImportError:
            raise ImportError(
                "MessageView.display() needs IPython (run it in Jupyter; pip install ipython)"
            ) from None
        try:
            import ipywidgets
        except ImportError:
            ipywidgets = None
        if ipywidgets is not None:
            self._widget = ipywidgets.HTML(value=self._repr_html_())
            display(self._widget)
        else:
            self._handle = display(HTML(self._repr_html_()), display_id=True)

    def _ipython_display_(self) -> None:
        self.display()

    def stop(self) -> None:
        """Gives ``on_message`` back to the previous callback; the view stays as it is."""
        if self._client.on_message == self._on_message:
            self._client.on_message = self._previous
        self._refresh()

    def __repr__(self) -> str:
        return f"<MessageView {self.count} received>"

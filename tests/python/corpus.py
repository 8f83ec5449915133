"""Reader for the exchange files of tests/data (``*.at``): host lines and modem output, in order.

The format is documented in tests/data/README.md. Nothing here imports modemqtt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"

_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|\\|r|n)")


def unescape(text: str) -> bytes:
    """The bytes of a data or modem line: UTF-8, with ``\\xNN``, ``\\r``, ``\\n``, ``\\\\``."""

    def one(m: re.Match[bytes]) -> bytes:
        e = m.group(1)
        if e == b"\\":
            return b"\\"
        if e == b"r":
            return b"\r"
        if e == b"n":
            return b"\n"
        return bytes([int(e[1:], 16)])

    return _ESCAPE.sub(one, text.encode("utf-8"))


@dataclass
class Modem:
    """One line of modem output."""

    text: bytes  # unescaped; may hold {marks}
    raw: bool = False  # '<|': raw data right after the previous line (no leading CRLF)
    free: bool = False  # '<<~': may come anywhere in its block

    @property
    def prompt(self) -> bool:
        return self.text == b">"

    def pattern(self) -> re.Pattern[bytes]:
        """The line as a regex: each ``{name}`` mark matches any run of bytes but CR/LF."""
        parts = re.split(rb"\{[a-z_]+\}", self.text)
        return re.compile(b"[^\r\n]*?".join(re.escape(p) for p in parts), re.S)

    def matches(self, line: bytes) -> bool:
        return self.pattern().fullmatch(line) is not None


@dataclass
class Step:
    """A host line (None for output before any host line), its data and the output after."""

    host: str | None
    data: bytes | None = None
    output: list[Modem] = field(default_factory=list)  # up to the data, or all if no data
    after_data: list[Modem] = field(default_factory=list)


@dataclass
class Exchange:
    path: Path
    header: dict[str, list[str]]
    steps: list[Step]

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    def first(self, key: str, default: str = "") -> str:
        values = self.header.get(key)
        return values[0] if values else default


def parse(path: Path) -> Exchange:
    return parse_text(path.read_text(encoding="utf-8"), path)


def parse_text(text: str, path: Path) -> Exchange:
    head, sep, body = text.partition("\n#---\n")
    if text.startswith("#---\n"):
        head, sep, body = "", "#---", text[len("#---\n") :]
    if not sep:
        raise ValueError(f"{path}: no #--- separator")
    header: dict[str, list[str]] = {}
    for line in head.splitlines():
        if not line.startswith("#"):
            raise ValueError(f"{path}: header line without '#': {line!r}")
        key, colon, value = line[1:].strip().partition(":")
        if colon and re.fullmatch(r"[a-z][a-z-]*", key.strip()):
            header.setdefault(key.strip(), []).append(value.strip())
    steps: list[Step] = []
    for n, line in enumerate(body.splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        marker, _, rest = line.partition(" ")
        if marker == ">>":
            steps.append(Step(rest))
            continue
        if not steps:
            steps.append(Step(None))
        step = steps[-1]
        if marker == ">|":
            if step.host is None or step.data is not None:
                raise ValueError(f"{path}:{n}: data without a command")
            step.data = unescape(rest)
        elif marker in ("<<", "<<~", "<|"):
            out = Modem(unescape(rest), raw=marker == "<|", free=marker == "<<~")
            (step.after_data if step.data is not None else step.output).append(out)
        else:
            raise ValueError(f"{path}:{n}: unknown marker {marker!r}")
    return Exchange(path, header, steps)


def load(family: str) -> list[Exchange]:
    return [parse(p) for p in sorted((DATA / family).glob("*.at"))]


def encode(lines: list[Modem], *, fill: dict[str, bytes] | None = None) -> bytes:
    """Modem output as bytes on the wire: ``\\r\\n<line>\\r\\n`` each, a prompt as
    ``\\r\\n> ``, raw data as ``<data>\\r\\n``. Marks are filled from ``fill``."""
    out = bytearray()
    for m in lines:
        text = m.text
        for name, value in (fill or {}).items():
            text = text.replace(b"{" + name.encode() + b"}", value)
        if m.prompt:
            out += b"\r\n> "
        elif m.raw:
            out += text + b"\r\n"
        else:
            out += b"\r\n" + text + b"\r\n"
    return bytes(out)


def match_block(expected: list[Modem], got: list[bytes]) -> str | None:
    """None when ``got`` (lines) is ``expected``: fixed lines in order, free lines anywhere."""
    fixed = [m for m in expected if not m.free]
    free = [m for m in expected if m.free]
    rest: list[bytes] = []
    for line in got:
        hit = next((m for m in free if m.matches(line)), None)
        if hit is not None:
            free.remove(hit)
        else:
            rest.append(line)
    if free:
        return f"missing {[m.text for m in free]!r} in {got!r}"
    if len(rest) != len(fixed) or not all(m.matches(g) for m, g in zip(fixed, rest)):
        return f"expected {[m.text for m in expected]!r}, got {got!r}"
    return None

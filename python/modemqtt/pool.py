"""A pool of lab modems named in a lab file, handed out one holder at a time.

A lab file (TOML) names each modem with the URL to open it by, what it is and what it can do::

    # lab.toml
    [pool]
    lock_dir = "/var/tmp/modemqtt-locks"    # optional; default: <tmp>/modemqtt-pool

    [modems.bench-1]
    url = "rfc2217://lab-host-1:4001"       # a device path, socket://, rfc2217:// or sim://
    profile = "a7600"                       # optional: the model / virtual modem profile
    capabilities = ["cmqtt", "tls"]         # optional: free-form tags to select by
    baudrate = 115200                       # optional (default 115200)
    location = "rack 3, slot 2"             # any other key is kept in LabModem.extra

    [modems.bench-2]
    url = "socket://lab-host-1:4002"

``Pool.acquire()`` hands out a modem nobody else holds: each modem has a lock file
(``fcntl.flock``) in the lock folder, so separate processes (pytest-xdist workers, several
suites on one machine) never share a modem, and a holder that dies releases it at once.
The lock is keyed by the modem's URL (without options), so two lab files naming the same
hardware still exclude each other. ``lock_port()`` is that lease on its own: the pytest
plugin's ``--modem-port`` takes it too, so a pool user and a test session exclude each other.
The lock only works between processes of one machine; labs shared by several hosts hold
modems through labgrid's coordinator instead (``modemqtt.labgrid``, docs/lab.md).
``Pool.acquire_for_worker()`` is what a pytest plugin uses: each xdist worker starts from its
own modem and falls back to any free one.

Python 3.11+ reads TOML with the standard library; 3.9 and 3.10 need ``tomli``
(``pip install modemqtt[lab]``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from ._core import Modem, ModemError, ModemTimeout

__all__ = [
    "DEFAULT_BAUDRATE",
    "LAB_ENV",
    "LabFileError",
    "LabModem",
    "Lease",
    "Pool",
    "PoolTimeout",
    "PortLease",
    "default_lock_dir",
    "lock_key",
    "lock_port",
    "resolve_port",
    "worker_count",
    "worker_index",
]

#: The environment variable naming the lab file (used by ``Pool.from_env`` and the CLI).
LAB_ENV = "MODEMQTT_LAB"
DEFAULT_BAUDRATE = 115200
_SCHEMES = ("socket", "rfc2217", "sim")
_KNOWN_KEYS = {"url", "profile", "capabilities", "baudrate"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


_W = TypeVar("_W", bound="WithBlock")


class WithBlock(ABC):
    """``with`` support: the end of the block (however it ends) calls ``_end()``."""

    @abstractmethod
    def _end(self) -> None: ...

    def __enter__(self: _W) -> _W:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end()


class Releasable(WithBlock):
    """Something held until ``release()``, also released at the end of a ``with`` block."""

    @abstractmethod
    def release(self) -> None:
        """Gives the held thing back; idempotent."""

    def _end(self) -> None:
        self.release()


class LabFileError(ValueError):
    """The lab file cannot be read or says something invalid (the message names the key)."""


class PoolTimeout(ModemTimeout):
    """No matching modem became free before the deadline."""


@dataclass(frozen=True)
class LabModem:
    """One modem of the lab file."""

    name: str
    url: str
    profile: str | None = None
    capabilities: frozenset[str] = frozenset()
    baudrate: int = DEFAULT_BAUDRATE
    extra: Mapping[str, Any] = field(default_factory=dict)

    def has(self, *capabilities: str) -> bool:
        """Whether the modem has every one of ``capabilities``."""
        return all(c in self.capabilities for c in capabilities)

    def open(self, **kwargs: Any) -> Modem:
        """``Modem(self.url, baudrate=self.baudrate, **kwargs)``."""
        kwargs.setdefault("baudrate", self.baudrate)
        return Modem(self.url, **kwargs)


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib as toml  # Python 3.11+
    except ImportError:  # pragma: no cover - depends on the interpreter
        try:
            import tomli as toml  # type: ignore[no-redef]
        except ImportError:
            raise ModemError(
                f"reading the lab file {path} needs tomli on Python < 3.11: "
                "pip install 'modemqtt[lab]'"
            ) from None
    try:
        with open(path, "rb") as f:
            return toml.load(f)
    except OSError as e:
        raise LabFileError(f"cannot read the lab file {path}: {e.strerror or e}") from None
    except toml.TOMLDecodeError as e:
        raise LabFileError(f"{path}: not valid TOML: {e}") from None


def _check_url(url: str, where: str) -> None:
    if not url or url != url.strip():
        raise LabFileError(f"{where}: url must be a non-empty string without spaces around")
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        if scheme not in _SCHEMES:
            raise LabFileError(
                f"{where}: url {url!r} has the unknown scheme {scheme!r} "
                f"(use a device path or one of {', '.join(s + '://' for s in _SCHEMES)})"
            )


def _parse_modem(name: str, entry: Any, where: str) -> LabModem:
    where = f"{where}: modems.{name}"
    if not _NAME.match(name):
        raise LabFileError(
            f"{where}: a modem name is letters, digits, '_', '.', '-' and starts with a "
            "letter or digit"
        )
    if not isinstance(entry, Mapping):
        raise LabFileError(f'{where}: must be a table with at least url = "..."')
    url = entry.get("url")
    if not isinstance(url, str):
        raise LabFileError(f"{where}: url is required and must be a string")
    _check_url(url, where)
    profile = entry.get("profile")
    if profile is not None and (not isinstance(profile, str) or not profile):
        raise LabFileError(f"{where}: profile must be a non-empty string")
    caps = entry.get("capabilities", [])
    if not isinstance(caps, list) or not all(isinstance(c, str) and c for c in caps):
        raise LabFileError(f"{where}: capabilities must be a list of non-empty strings")
    baudrate = entry.get("baudrate", DEFAULT_BAUDRATE)
    if isinstance(baudrate, bool) or not isinstance(baudrate, int):
        raise LabFileError(f"{where}: baudrate must be an integer")
    if not 50 <= baudrate <= 20_000_000:
        raise LabFileError(f"{where}: baudrate must be between 50 and 20000000, got {baudrate}")
    extra = {k: v for k, v in entry.items() if k not in _KNOWN_KEYS}
    return LabModem(name, url, profile, frozenset(caps), baudrate, extra)


def worker_index(worker_id: str | None = None) -> int:
    """The pytest-xdist worker number: 3 for "gw3"; 0 without xdist ("master" or unset).

    ``worker_id`` defaults to ``$PYTEST_XDIST_WORKER``.
    """
    if worker_id is None:
        worker_id = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker_id or worker_id == "master":
        return 0
    digits = re.search(r"(\d+)$", worker_id)
    if digits is None:
        raise ValueError(f"worker_id: expected an xdist worker id like 'gw0', got {worker_id!r}")
    return int(digits.group(1))


def worker_count() -> int:
    """How many xdist workers run (``$PYTEST_XDIST_WORKER_COUNT``), 1 without xdist."""
    raw = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    try:
        return max(1, int(raw))
    except ValueError:
        return 1


def default_lock_dir() -> Path:
    """Where leases are held: ``$MODEMQTT_LOCK_DIR``, else ``<tmp>/modemqtt-pool``."""
    return Path(
        os.environ.get("MODEMQTT_LOCK_DIR") or Path(tempfile.gettempdir()) / "modemqtt-pool"
    )


def lock_key(url: str) -> str:
    """The name of a port's lock file: a hash of its URL without ``?options`` and trailing
    ``/`` (``socket://h:1?timeout=3`` and ``socket://h:1/`` are one port)."""
    key = str(url).split("?", 1)[0].rstrip("/")
    return hashlib.sha256(key.encode()).hexdigest()[:16] + ".lock"


class PortLease(Releasable):
    """An exclusive hold on one port (``lock_port``) until ``release()``; a process that dies
    drops it at once (the kernel releases the flock)."""

    def __init__(self, url: str, lock_file: IO[bytes], lock_path: Path) -> None:
        self.url = url
        self.lock_path = lock_path
        self._file: IO[bytes] | None = lock_file

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        """Gives the port back; idempotent."""
        f, self._file = self._file, None
        if f is not None:
            f.close()  # closing the descriptor drops the flock

    def __del__(self) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"PortLease({self.url!r}, {'held' if self.held else 'released'})"


def lock_port(
    url: str, *, lock_dir: str | os.PathLike[str] | None = None, holder: str = ""
) -> PortLease | None:
    """Holds ``url`` for this process if nobody holds it (without waiting), else None.

    The lease the pool and the pytest plugin share: one lock file per port in ``lock_dir``
    (default ``default_lock_dir()``), named by ``lock_key(url)``. ``holder`` (a modem name,
    "pytest"), the URL, the pid and the xdist worker are written into the file for a curious
    ``cat``; the lock itself is the flock.
    """
    import fcntl  # POSIX; the pool is for Linux/macOS test hosts

    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / lock_key(url)
    f = open(path, "a+b")  # the lease owns and closes it
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    except OSError:
        f.close()
        raise
    # Who holds it (the lock itself is the flock, not this text).
    f.truncate(0)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    f.write(f"{holder} {url} pid={os.getpid()} {worker}".strip().encode() + b"\n")
    f.flush()
    return PortLease(url, f, path)


class Lease(Releasable):
    """A modem held by this process until ``release()`` (or the end of a ``with`` block)."""

    def __init__(self, modem: LabModem, port: PortLease) -> None:
        self.modem = modem
        self.lock_path = port.lock_path
        self._port: PortLease | None = port

    @property
    def name(self) -> str:
        return self.modem.name

    @property
    def url(self) -> str:
        return self.modem.url

    @property
    def held(self) -> bool:
        return self._port is not None

    def open(self, **kwargs: Any) -> Modem:
        """Opens the leased modem (see ``LabModem.open``)."""
        if self._port is None:
            raise ModemError(f"the lease on {self.name} was released")
        return self.modem.open(**kwargs)

    def release(self) -> None:
        """Gives the modem back; idempotent."""
        port, self._port = self._port, None
        if port is not None:
            port.release()

    def __del__(self) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"Lease(name={self.name!r}, url={self.url!r}, {state})"


class Pool:
    """The modems of a lab file; hands each to one holder at a time."""

    def __init__(
        self,
        modems: Iterable[LabModem],
        *,
        lock_dir: str | os.PathLike[str] | None = None,
        source: str = "<pool>",
    ) -> None:
        self.source = source
        self._modems: dict[str, LabModem] = {}
        for m in modems:
            if m.name in self._modems:
                raise LabFileError(f"{source}: the modem name {m.name!r} appears twice")
            self._modems[m.name] = m
        self.lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_dict(
        cls,
        doc: Mapping[str, Any],
        *,
        source: str = "<dict>",
        base: str | os.PathLike[str] | None = None,
    ) -> Pool:
        """A pool from the parsed contents of a lab file; a relative ``pool.lock_dir`` is
        taken relative to ``base`` (the file's folder) when given."""
        unknown = set(doc) - {"pool", "modems"}
        if unknown:
            raise LabFileError(
                f"{source}: unknown top-level key(s) {sorted(unknown)} (expected [pool], [modems])"
            )
        settings = doc.get("pool", {})
        if not isinstance(settings, Mapping):
            raise LabFileError(f"{source}: [pool] must be a table")
        extra = set(settings) - {"lock_dir"}
        if extra:
            raise LabFileError(f"{source}: unknown key(s) in [pool]: {sorted(extra)}")
        lock_dir = settings.get("lock_dir")
        if lock_dir is not None and (not isinstance(lock_dir, str) or not lock_dir):
            raise LabFileError(f"{source}: pool.lock_dir must be a non-empty string")
        modems = doc.get("modems")
        if not isinstance(modems, Mapping) or not modems:
            raise LabFileError(f"{source}: needs at least one [modems.NAME] table with a url")
        parsed = [_parse_modem(str(name), entry, source) for name, entry in modems.items()]
        if lock_dir is not None and base is not None and not os.path.isabs(lock_dir):
            lock_dir = str(Path(base) / lock_dir)
        return cls(parsed, lock_dir=lock_dir, source=source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Pool:
        """Reads a lab file (TOML); a relative ``pool.lock_dir`` is relative to the file."""
        p = Path(path)
        return cls.from_dict(_load_toml(p), source=str(p), base=p.parent)

    @classmethod
    def from_env(cls, variable: str = LAB_ENV) -> Pool | None:
        """The pool of the lab file named by ``$MODEMQTT_LAB``, or None when it is unset."""
        path = os.environ.get(variable)
        return cls.from_file(path) if path else None

    # ------------------------------------------------------------------ lookup

    def names(self) -> list[str]:
        """The modem names, in file order."""
        return list(self._modems)

    def __len__(self) -> int:
        return len(self._modems)

    def __iter__(self) -> Iterator[LabModem]:
        return iter(self._modems.values())

    def __contains__(self, name: object) -> bool:
        return name in self._modems

    def __getitem__(self, name: str) -> LabModem:
        try:
            return self._modems[name]
        except KeyError:
            raise KeyError(
                f"no modem named {name!r} in {self.source} (known: {', '.join(self._modems)})"
            ) from None

    def select(
        self, *, profile: str | None = None, capabilities: Sequence[str] = ()
    ) -> list[LabModem]:
        """The modems matching ``profile`` (case-insensitive) and having ``capabilities``."""
        if isinstance(capabilities, str):
            raise TypeError("capabilities: a list of strings, not one string")
        out = []
        for m in self._modems.values():
            if profile is not None and (m.profile or "").lower() != profile.lower():
                continue
            if not m.has(*capabilities):
                continue
            out.append(m)
        return out

    def __repr__(self) -> str:
        return f"Pool({self.source!r}, {len(self)} modems, lock_dir={str(self.lock_dir)!r})"

    # ------------------------------------------------------------------ locking

    def lock_path(self, modem: LabModem | str) -> Path:
        """The lock file of a modem (by URL without ``?options``, so aliases share it)."""
        m = self[modem] if isinstance(modem, str) else modem
        return self.lock_dir / lock_key(m.url)

    def _try_lock(self, modem: LabModem) -> Lease | None:
        port = lock_port(modem.url, lock_dir=self.lock_dir, holder=modem.name)
        return None if port is None else Lease(modem, port)

    def is_free(self, name: str) -> bool:
        """Whether nobody holds the modem right now (a snapshot)."""
        lease = self._try_lock(self[name])
        if lease is None:
            return False
        lease.release()
        return True

    def _candidates(
        self, name: str | None, profile: str | None, capabilities: Sequence[str]
    ) -> list[LabModem]:
        if name is not None:
            m = self[name]
            if profile is not None and (m.profile or "").lower() != profile.lower():
                raise ValueError(f"name: {name!r} is a {m.profile!r}, not a {profile!r}")
            if not m.has(*capabilities):
                raise ValueError(
                    f"name: {name!r} lacks {sorted(set(capabilities) - m.capabilities)}"
                )
            return [m]
        found = self.select(profile=profile, capabilities=capabilities)
        if not found:
            want = []
            if profile is not None:
                want.append(f"profile {profile!r}")
            if capabilities:
                want.append(f"capabilities {list(capabilities)}")
            raise LookupError(f"{self.source}: no modem with {' and '.join(want)}")
        return found

    @staticmethod
    def _check_timeout(timeout: float) -> None:
        if not (timeout >= 0 and timeout != float("inf")):
            raise ValueError(f"timeout: must be a finite number of seconds >= 0, got {timeout}")

    def acquire(
        self,
        name: str | None = None,
        *,
        profile: str | None = None,
        capabilities: Sequence[str] = (),
        timeout: float = 60.0,
        start: int = 0,
    ) -> Lease:
        """Holds one free modem (``name``, or any matching ``profile``/``capabilities``).

        Candidates are tried in file order beginning at index ``start`` (wrapping around);
        waits up to ``timeout`` seconds for one to become free, then raises PoolTimeout.
        """
        return self.acquire_many(
            1, name=name, profile=profile, capabilities=capabilities, timeout=timeout, start=start
        )[0]

    def acquire_many(
        self,
        count: int,
        *,
        name: str | None = None,
        profile: str | None = None,
        capabilities: Sequence[str] = (),
        timeout: float = 60.0,
        start: int = 0,
    ) -> list[Lease]:
        """Holds ``count`` distinct free modems at once (all or none, within ``timeout``)."""
        self._check_timeout(timeout)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count: must be a positive integer, got {count!r}")
        candidates = self._candidates(name, profile, capabilities)
        if count > len(candidates):
            raise ValueError(
                f"count: {count} modems asked for, only {len(candidates)} match in {self.source}"
            )
        k = start % len(candidates)
        order = candidates[k:] + candidates[:k]
        deadline = time.monotonic() + timeout
        held: list[Lease] = []
        while True:
            for m in order:
                if len(held) == count:
                    break
                if any(h.modem is m for h in held):
                    continue
                lease = self._try_lock(m)
                if lease is not None:
                    held.append(lease)
            if len(held) == count:
                return held
            if time.monotonic() >= deadline:
                for h in held:
                    h.release()
                busy = ", ".join(m.name for m in order)
                raise PoolTimeout(
                    f"{self.source}: no {count} free modem(s) among [{busy}] within {timeout} s"
                )
            time.sleep(0.05)

    def acquire_for_worker(
        self,
        worker_id: str | None = None,
        *,
        count: int = 1,
        profile: str | None = None,
        capabilities: Sequence[str] = (),
        timeout: float = 60.0,
    ) -> list[Lease]:
        """The modem(s) for pytest-xdist worker ``worker_id`` (default ``$PYTEST_XDIST_WORKER``).

        Worker N starts at candidate ``N * count``, so with enough modems each worker gets
        its own share at once; when its share is busy it takes any free matching modem.
        """
        index = worker_index(worker_id)
        return self.acquire_many(
            count,
            profile=profile,
            capabilities=capabilities,
            timeout=timeout,
            start=index * count,
        )


def resolve_port(spec: str, lab: str | os.PathLike[str] | Pool | None = None) -> str:
    """The URL to open for ``spec``: a device path or URL is returned as given; any other
    word is a modem name looked up in ``lab`` (a Pool or lab file; default ``$MODEMQTT_LAB``).
    """
    if not spec:
        raise ValueError("port: must not be empty")
    if "://" in spec or "/" in spec or "\\" in spec or re.match(r"^COM\d+$", spec, re.I):
        return spec
    pool = lab if isinstance(lab, Pool) else (Pool.from_file(lab) if lab else Pool.from_env())
    if pool is None:
        raise LookupError(
            f"port: {spec!r} is neither a device path nor a URL, and no lab file names it "
            f"(pass --lab FILE or set {LAB_ENV})"
        )
    if spec not in pool:
        raise LookupError(
            f"port: no modem named {spec!r} in {pool.source} (known: {', '.join(pool.names())})"
        )
    return pool[spec].url

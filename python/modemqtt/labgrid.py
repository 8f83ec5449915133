"""labgrid integration: a driver that opens a :class:`modemqtt.Modem` on a labgrid serial
resource, and places held through labgrid's coordinator.

Needs labgrid (``pip install 'modemqtt[labgrid]'``); the rest of modemqtt does not.

In a labgrid environment file::

    targets:
      main:
        resources:
          RemotePlace:
            name: modem-a
        drivers:
          ModemDriver: {}

``ModemDriver`` binds to a ``SerialPort`` (also ``USBSerialPort`` and ``RawSerialPort``, which
are serial ports) or a ``NetworkSerialPort`` (what an exporter publishes: ser2net with
RFC 2217, or raw TCP). Activating it opens the modem (``driver.modem``); deactivating it
closes the modem and frees the port for the next user.

:class:`Coordinator` acquires and releases places and makes reservations, with a deadline on
every wait; the pytest plugin uses it so that each pytest-xdist worker holds a place of its
own (``--modem-lg-reserve``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

try:
    import attr
    from labgrid.driver.common import Driver
    from labgrid.factory import target_factory
    from labgrid.resource import NetworkSerialPort
    from labgrid.util.proxy import proxymanager
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"modemqtt.labgrid needs labgrid ({_exc}): pip install 'modemqtt[labgrid]'"
    ) from _exc

from ._core import Modem, ModemError
from .pool import Releasable, WithBlock

__all__ = [
    "DEFAULT_COORDINATOR",
    "Coordinator",
    "CoordinatorError",
    "ModemDriver",
    "PlaceBusyError",
    "PlaceLease",
    "PlaceState",
    "modem_url",
]

#: Where labgrid's tools look for the coordinator when neither an address nor
#: ``$LG_COORDINATOR`` is given.
DEFAULT_COORDINATOR = "127.0.0.1:20408"

T = TypeVar("T")


class CoordinatorError(ModemError):
    """The labgrid coordinator cannot be reached, or refused a request (the message says
    which and why)."""


class PlaceBusyError(CoordinatorError):
    """The place is acquired by someone else (``holder``: ``host/user``), or no matching
    place became free in time."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


# ----------------------------------------------------------------------------- the driver


def modem_url(resource: Any, connect_timeout: float = 5.0) -> str:
    """The port to open for a labgrid serial resource: the device path of a ``SerialPort``
    (``USBSerialPort``, ``RawSerialPort``), or ``rfc2217://host:port?timeout=..`` /
    ``socket://host:port?timeout=..`` for a ``NetworkSerialPort`` (through labgrid's proxy
    manager, so an exporter reachable only over SSH works as with labgrid's own drivers)."""
    if isinstance(resource, NetworkSerialPort):
        host, port = proxymanager.get_host_and_port(resource)
        scheme = {"rfc2217": "rfc2217", "raw": "socket"}.get(resource.protocol)
        if scheme is None:
            raise ValueError(
                f"NetworkSerialPort protocol: {resource.protocol!r} is not supported; "
                "use 'rfc2217' or 'raw'"
            )
        return f"{scheme}://{host}:{port}?timeout={connect_timeout:g}"
    port = getattr(resource, "port", None)
    if not port:
        what = type(resource).__name__ + (f" {resource.name!r}" if resource.name else "")
        raise ValueError(
            f"{what}: no device path (is the modem plugged in, and does the match find it?)"
        )
    return str(port)


def _positive(name: str) -> Any:
    def check(_instance: Any, _attribute: Any, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"ModemDriver {name}: must be a number of seconds > 0, got {value!r}")

    return check


@target_factory.reg_driver
@attr.s(eq=False)
class ModemDriver(Driver):
    """A :class:`modemqtt.Modem` on a labgrid serial resource.

    Attributes (set in the environment file under ``ModemDriver:``):

    - ``timeout``: the modem's command timeout in seconds (``Modem(timeout=...)``, default 10);
    - ``connect_timeout``: how long opening a network port may take (default 5);
    - ``baudrate``: line speed; default: the resource's ``speed``.
    """

    bindings = {"port": {"SerialPort", "NetworkSerialPort"}}  # noqa: RUF012 (labgrid's API)

    timeout: float = attr.ib(default=10.0, converter=float, validator=_positive("timeout"))
    connect_timeout: float = attr.ib(
        default=5.0, converter=float, validator=_positive("connect_timeout")
    )
    baudrate: int | None = attr.ib(default=None)

    def __attrs_post_init__(self) -> None:
        if self.baudrate is not None and (
            isinstance(self.baudrate, bool)
            or not isinstance(self.baudrate, int)
            or not 50 <= self.baudrate <= 20_000_000
        ):
            raise ValueError(
                f"ModemDriver baudrate: must be an integer between 50 and 20000000, "
                f"got {self.baudrate!r}"
            )
        self._modem: Modem | None = None
        self.url: str | None = None
        super().__attrs_post_init__()  # binds to the target's port

    def on_activate(self) -> None:
        self.url = modem_url(self.port, self.connect_timeout)
        baud = self.baudrate or int(getattr(self.port, "speed", 0) or 115200)
        self._modem = Modem(self.url, baudrate=baud, timeout=self.timeout)

    def on_deactivate(self) -> None:
        modem, self._modem = self._modem, None
        if modem is not None:
            modem.close()  # bounded by the modem's timeout; frees the port

    @property
    def modem(self) -> Modem:
        """The open modem (the driver must be active: ``target.activate(driver)``)."""
        if self._modem is None:
            raise ModemError(f"{self}: not active; activate it first (target.activate(driver))")
        return self._modem

    @Driver.check_bound
    def get_export_vars(self) -> dict[str, str]:
        return {"url": modem_url(self.port, self.connect_timeout)}

    def __str__(self) -> str:
        return f"ModemDriver({self.target.name if self.target else '-'})"


# ----------------------------------------------------------------------------- the coordinator


@dataclass(frozen=True)
class PlaceState:
    """A place as the coordinator knows it."""

    name: str
    acquired: str | None
    """``host/user`` of the holder, or None."""
    tags: Mapping[str, str] = field(default_factory=dict)
    reservation: str | None = None


def _check_timeout(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e9:
        raise ValueError(f"{name}: must be a finite number of seconds > 0, got {value!r}")


class Coordinator(WithBlock):
    """A client session with labgrid's coordinator.

    ``address`` is ``HOST:PORT`` (default ``$LG_COORDINATOR``, else ``127.0.0.1:20408``);
    ``timeout`` bounds connecting and every single request. The user name the coordinator
    records is labgrid's (``$LG_HOSTNAME/$LG_USERNAME``, else this host and user).
    """

    def __init__(self, address: str | None = None, *, timeout: float = 10.0) -> None:
        _check_timeout("timeout", timeout)
        self.address = address or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR
        self.timeout = float(timeout)
        from labgrid.remote.client import ClientSession, ensure_event_loop

        self._loop = ensure_event_loop()
        address = proxymanager.get_grpc_address(self.address, default_port=20408)
        self._session = ClientSession(address, self._loop)
        # The coordinator tells its clients apart by their TCP connection, and gRPC shares
        # one connection between channels of equal settings: labgrid's own session of this
        # process (the RemotePlace of a target) would be taken for this one. A private
        # connection keeps the two apart.
        import grpc
        from labgrid.remote.generated import labgrid_coordinator_pb2_grpc as pb2_grpc

        shared = self._session.channel
        self._session.channel = grpc.aio.insecure_channel(
            target=address,
            options=[
                ("grpc.keepalive_time_ms", 7500),
                ("grpc.keepalive_timeout_ms", 10000),
                ("grpc.http2.ping_timeout_ms", 10000),
                ("grpc.http2.max_pings_without_data", 0),
                ("grpc.use_local_subchannel_pool", 1),
            ],
        )
        self._session.stub = pb2_grpc.CoordinatorStub(self._session.channel)
        self._loop.run_until_complete(shared.close())
        try:
            self._run(self._session.start(), "connecting")
        except BaseException:
            self._close_quietly()
            raise

    # ------------------------------------------------------------------ plumbing

    def _run(self, aw: Awaitable[T], what: str, timeout: float | None = None) -> T:
        limit = self.timeout if timeout is None else timeout
        import grpc

        try:
            return self._loop.run_until_complete(asyncio.wait_for(aw, limit))
        except asyncio.TimeoutError:
            raise CoordinatorError(
                f"labgrid coordinator at {self.address}: no answer within {limit:g} s while "
                f"{what} (is labgrid-coordinator running there?)"
            ) from None
        except grpc.aio.AioRpcError as exc:
            raise CoordinatorError(
                f"labgrid coordinator at {self.address}: {what} failed: {exc.details()}"
            ) from None
        except ModemError:
            raise
        except Exception as exc:
            # labgrid's own errors (ServerError, UserError) carry the coordinator's words
            raise CoordinatorError(
                f"labgrid coordinator at {self.address}: {what} failed: {exc}"
            ) from None

    def _close_quietly(self) -> None:
        # Each step on its own: a session that never started has no stream to stop, but
        # its channel is closed all the same.
        for step in (self._session.stop, self._session.close):
            try:
                self._loop.run_until_complete(asyncio.wait_for(step(), 2.0))
            except Exception:  # noqa: S112 - best effort, like closing a socket
                continue

    def close(self) -> None:
        """Ends the session (places stay acquired: release them first)."""
        self._close_quietly()

    def _end(self) -> None:
        self.close()

    def _sync(self) -> None:
        if not self._run(self._session.sync_with_coordinator(), "reading the places"):
            raise CoordinatorError(
                f"labgrid coordinator at {self.address}: the connection was lost"
            )

    @property
    def user(self) -> str:
        """``host/user`` as the coordinator records this session."""
        return f"{self._session.gethostname()}/{self._session.getuser()}"

    # ------------------------------------------------------------------ places

    def places(self) -> dict[str, PlaceState]:
        """Every place the coordinator knows, by name."""
        self._sync()
        return {
            name: PlaceState(name, p.acquired or None, dict(p.tags), p.reservation or None)
            for name, p in self._session.places.items()
        }

    def place(self, name: str) -> PlaceState:
        places = self.places()
        try:
            return places[name]
        except KeyError:
            known = ", ".join(sorted(places)) or "none"
            raise CoordinatorError(
                f"place: {name!r} is unknown to the coordinator at {self.address} (places: {known})"
            ) from None

    def acquire(self, name: str) -> PlaceLease:
        """Acquires the place ``name`` for this user. Raises PlaceBusyError naming the holder
        when someone else holds it. A place this user already holds on this host (acquired
        with ``labgrid-client acquire`` before the run) is used as it is and not released
        by the lease."""
        state = self.place(name)
        if state.acquired == self.user:
            return PlaceLease(self, name, token=None, owned=False)
        if state.acquired:
            raise PlaceBusyError(
                f"place {name!r} is already acquired by {state.acquired}; it is released "
                f"with: labgrid-client -p {name} release (by {state.acquired}) or "
                f"release --kick",
                holder=state.acquired,
            )
        self._acquire(name)
        return PlaceLease(self, name, token=None, owned=True)

    def _acquire(self, name: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        try:
            self._run(
                self._session.stub.AcquirePlace(pb2.AcquirePlaceRequest(placename=name)),
                f"acquiring place {name!r}",
            )
        except CoordinatorError as exc:
            holder = self.place(name).acquired
            if holder and holder != self.user:
                raise PlaceBusyError(
                    f"place {name!r} is already acquired by {holder}", holder=holder
                ) from None
            raise exc from None
        self._sync()

    def release(self, name: str) -> None:
        """Releases the place ``name`` (held by this user)."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        self._run(
            self._session.stub.ReleasePlace(pb2.ReleasePlaceRequest(placename=name)),
            f"releasing place {name!r}",
        )
        self._sync()

    # ------------------------------------------------------------------ reservations

    def reserve(self, tags: Mapping[str, str], *, timeout: float = 60.0) -> PlaceLease:
        """Reserves a place whose tags include ``tags``, waits (at most ``timeout`` seconds)
        until the coordinator allocates one, and acquires it. Places held or reserved by
        others are never allocated, so concurrent callers (pytest-xdist workers, CI runners)
        each get their own. Raises PlaceBusyError naming the holders on timeout."""
        from labgrid.remote.common import Reservation, ReservationState
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        _check_timeout("timeout", timeout)
        if not tags:
            raise ValueError("tags: at least one TAG=VALUE is needed to choose a place")
        matching = [
            p for p in self.places().values() if all(p.tags.get(k) == v for k, v in tags.items())
        ]
        want = " ".join(f"{k}={v}" for k, v in tags.items())
        if not matching:
            raise CoordinatorError(
                f"tags: no place of the coordinator at {self.address} has {want}"
            )
        request = pb2.CreateReservationRequest(
            filters={"main": pb2.Reservation.Filter(filter=dict(tags))}, prio=0.0
        )
        response = self._run(
            self._session.stub.CreateReservation(request), f"reserving a place with {want}"
        )
        token = Reservation.from_pb2(response.reservation).token
        deadline = time.monotonic() + timeout
        try:
            while True:
                polled = self._run(
                    self._session.stub.PollReservation(pb2.PollReservationRequest(token=token)),
                    "waiting for the reservation",
                )
                res = Reservation.from_pb2(polled.reservation)
                if res.state is ReservationState.allocated:
                    name = res.allocations["main"][0]
                    self._acquire(name)
                    return PlaceLease(self, name, token=token, owned=True)
                if res.state is not ReservationState.waiting:
                    raise CoordinatorError(
                        f"reservation {token} for {want} ended as {res.state.name}"
                    )
                if time.monotonic() >= deadline:
                    names = {m.name for m in matching}
                    holders = ", ".join(
                        f"{p.name} (acquired by {p.acquired})"
                        if p.acquired
                        else f"{p.name} (reserved by another)"
                        for p in self.places().values()
                        if p.name in names
                    )
                    raise PlaceBusyError(
                        f"no place with {want} became free within {timeout:g} s: {holders}"
                    )
                self._run(asyncio.sleep(0.2), "waiting for the reservation")
        except BaseException:
            self._cancel(token)
            raise

    def _cancel(self, token: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        try:
            self._run(
                self._session.stub.CancelReservation(pb2.CancelReservationRequest(token=token)),
                "cancelling the reservation",
            )
        except CoordinatorError:
            pass  # it expires on the coordinator by itself


class PlaceLease(Releasable):
    """A place held through :class:`Coordinator` until ``release()`` (or the end of a
    ``with`` block), with its reservation when it came from ``reserve()``."""

    def __init__(self, coordinator: Coordinator, name: str, token: str | None, owned: bool) -> None:
        self.coordinator = coordinator
        self.name = name
        self.token = token
        self.owned = owned
        self._held = True

    @property
    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        """Releases the place (when this lease acquired it) and cancels the reservation;
        idempotent."""
        if not self._held:
            return
        self._held = False
        try:
            if self.owned:
                self.coordinator.release(self.name)
        finally:
            if self.token is not None:
                self.coordinator._cancel(self.token)

    def __repr__(self) -> str:
        return f"PlaceLease({self.name!r}, {'held' if self._held else 'released'})"

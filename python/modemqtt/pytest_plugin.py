"""pytest plugin: modem fixtures that run on virtual modems or on lab hardware.

Loaded automatically (entry point ``pytest11``) once modemqtt is installed; nothing to import.

Options::

    --modem-port PORT      a lab modem (repeatable); @FILE reads one port per line
    --modem-profile NAME   virtual modem profile when no port is given (default: a7600)
    --mqtt-broker URL      broker for mqtt_client (and behind virtual modems);
                           default: the embedded broker
    --modem-baudrate N     line speed of lab modems (default: 115200)
    --modem-lg-reserve TAG=VALUE
                           with labgrid (--lg-env): each process (xdist worker) reserves
                           and acquires its own place with these tags; repeatable
    --modem-lg-timeout S   with labgrid: how long to wait for a place (default: 60)

Fixtures: ``modem`` (an open :class:`modemqtt.Modem`), ``mqtt_client`` (a client of it,
connected to ``mqtt_broker``), ``virtual_modem`` (a fresh :class:`modemqtt.VirtualModem`,
always virtual, for fault injection), ``mqtt_broker`` (the broker url).

With no ``--modem-port`` every test gets a fresh virtual modem; with ports, each test gets a
lab modem from the pool. A modem is held by one pytest process (one xdist worker) for the
whole session through a lock file, so workers never share one; a worker that finds every
modem taken fails with the reason.

With labgrid's plugin and an environment whose target has a ``ModemDriver``
(``--lg-env``), ``modem`` is that target's modem: the driver is activated for each test and
deactivated after it; the session holds the place (``modem_place``) through labgrid's
coordinator and releases it at the end. See docs/lab.md.

Marker ``@pytest.mark.modem(family=..., **capabilities)`` skips a test when the modem lacks
them: ``family="cmqtt"`` (or a tuple of names), ``profile="sim7028"``, a capability that must
be true (``tls=True``, ``will=True``) or at least a number (``clients=2``, ``max_qos=2``,
``payload_max=4096``); see ``MqttClient.capabilities()``. On virtual modems the plugin picks
the first profile that satisfies the marker (unless ``--modem-profile`` names one).

When a test that used ``modem`` fails, the modem's wire transcript (secrets masked) is added
to the report as the section "modem transcript".
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

import modemqtt
from modemqtt.pool import default_lock_dir, lock_port

DEFAULT_PROFILE = "a7600"
MARKER = "modem"
_PROFILE_CAPS: dict[str, dict[str, Any] | str] = {}
_SKEY = pytest.StashKey[Any]()
_LG_TAGS = pytest.StashKey[dict[str, str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("modemqtt", "modemqtt: modems for hardware-in-the-loop tests")
    g.addoption(
        "--modem-port",
        action="append",
        default=[],
        metavar="PORT",
        help="a lab modem port (/dev/ttyUSB2, socket://host:port); repeatable; @FILE reads "
        "one port per line (# comments). Without it the tests run on virtual modems.",
    )
    g.addoption(
        "--modem-profile",
        default=None,
        metavar="NAME",
        help=f"virtual modem profile when no port is given (default: {DEFAULT_PROFILE}; "
        f"one of: {', '.join(modemqtt.profiles())})",
    )
    g.addoption(
        "--mqtt-broker",
        default=None,
        metavar="URL",
        help="mqtt://host:port for mqtt_client and behind virtual modems "
        "(default: the embedded broker; required with --modem-port for mqtt_client)",
    )
    g.addoption("--modem-baudrate", type=int, default=115200, help="lab modem line speed")
    g.addoption(
        "--modem-lg-reserve",
        action="append",
        default=[],
        metavar="TAG=VALUE",
        help="with labgrid (--lg-env): each pytest process (xdist worker) reserves and "
        "acquires its own place with these tags through the coordinator; repeatable",
    )
    g.addoption(
        "--modem-lg-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with labgrid: how long to wait for a free place (default: 60)",
    )


def _read_ports(values: list[str]) -> list[str]:
    ports: list[str] = []
    for v in values:
        if v.startswith("@"):
            path = v[1:]
            try:
                with open(path, encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except OSError as exc:
                raise pytest.UsageError(f"--modem-port {v}: cannot read {path}: {exc}") from None
            for line in lines:
                line = line.split("#", 1)[0].strip()
                if line:
                    ports.append(line)
            if not any(p for p in lines if p.split("#", 1)[0].strip()):
                raise pytest.UsageError(f"--modem-port {v}: {path} lists no ports")
        else:
            ports.append(v)
    return ports


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(family=None, **capabilities): skip unless the modem has this MQTT family "
        "and these capabilities (e.g. family='cmqtt', tls=True, clients=2)",
    )
    profile = config.getoption("--modem-profile", None)
    if profile is not None and profile not in modemqtt.profiles():
        raise pytest.UsageError(
            f"--modem-profile {profile!r}: unknown; one of {', '.join(modemqtt.profiles())}"
        )
    broker = config.getoption("--mqtt-broker", None)
    if broker is not None:
        parts = urlsplit(broker if "://" in broker else f"mqtt://{broker}")
        if not parts.hostname:
            raise pytest.UsageError(f"--mqtt-broker {broker!r}: expected mqtt://host:port")
    config.stash[_SKEY] = _read_ports(config.getoption("--modem-port", None) or [])
    config.stash[_LG_TAGS] = _read_tags(config.getoption("--modem-lg-reserve", None) or [])
    timeout = config.getoption("--modem-lg-timeout", None)
    if timeout is not None and not 0 < timeout < 1e9:
        raise pytest.UsageError(f"--modem-lg-timeout {timeout}: must be a number of seconds > 0")
    if config.pluginmanager.hasplugin("labgrid"):
        try:
            importlib.import_module("modemqtt.labgrid")  # registers ModemDriver with labgrid
        except ImportError:
            pass  # labgrid's plugin without labgrid's library: nothing to register


def _read_tags(values: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key or not value:
            raise pytest.UsageError(f"--modem-lg-reserve {v!r}: expected TAG=VALUE")
        tags[key] = value
    return tags


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


# ----------------------------------------------------------------------------- the lab pool


@pytest.fixture(scope="session")
def modem_port(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The lab port this pytest process (xdist worker) holds, or None for virtual modems."""
    ports: list[str] = request.config.stash[_SKEY]
    if not ports:
        yield None
        return
    if _labgrid_env(request.config) is not None:
        pytest.fail(
            "--modem-port and a labgrid environment with a ModemDriver (--lg-env) both name "
            "the modem: give one of them",
            pytrace=False,
        )
    for port in ports:
        # The same lease as modemqtt.pool's (one lock file per URL), so a pool user and
        # a --modem-port session never hold one modem together.
        lease = lock_port(port, holder="pytest")
        if lease is not None:
            try:
                yield port
            finally:
                lease.release()
            return
    pytest.fail(
        f"worker {_worker()}: all {len(ports)} lab modems are in use by other workers, "
        f"sessions or pool leases ({', '.join(ports)}; lock files in {default_lock_dir()}); "
        "run fewer xdist workers than modems",
        pytrace=False,
    )


# ----------------------------------------------------------------------------- labgrid

_LG_DRIVER = "ModemDriver"


def _labgrid_env(config: pytest.Config) -> Any | None:
    """labgrid's Environment when labgrid's plugin is active (--lg-env / $LG_ENV) and one of
    its targets has a ModemDriver; else None."""
    if not config.pluginmanager.hasplugin("labgrid"):
        return None
    try:
        from labgrid.pytestplugin.hooks import LABGRID_ENV_KEY
    except ImportError:
        return None
    env = config.stash.get(LABGRID_ENV_KEY, None)
    if env is None:
        return None
    for target in (env.config.get_targets() or {}).values():
        drivers = (target or {}).get("drivers") or {}
        names = drivers.keys() if isinstance(drivers, dict) else [k for d in drivers for k in d]
        if _LG_DRIVER in names:
            return env
    return None


def _remote_places(env: Any) -> list[dict[str, Any]]:
    """The RemotePlace entries (their argument tables) of the environment's targets."""
    found = []
    for target in (env.config.get_targets() or {}).values():
        resources = (target or {}).get("resources") or {}
        items = [resources] if isinstance(resources, dict) else list(resources)
        for item in items:
            args = item.get("RemotePlace")
            if isinstance(args, dict):
                found.append(args)
    return found


@pytest.fixture(scope="session", autouse=True)
def modem_place(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """With labgrid: the place this pytest process holds (None without labgrid).

    The place named by the environment's RemotePlace is acquired for the session when it is
    free (and used as it is when this user already holds it); with ``--modem-lg-reserve``
    each process (xdist worker) reserves its own place by tags, and the environment's
    RemotePlace is pointed at it. Places this fixture acquired are released at the end.
    """
    config = request.config
    tags: dict[str, str] = config.stash[_LG_TAGS]
    env = _labgrid_env(config)
    if env is None:
        if tags:
            pytest.fail(
                "--modem-lg-reserve needs labgrid's plugin with an environment whose target "
                f"has a {_LG_DRIVER} (--lg-env FILE)",
                pytrace=False,
            )
        yield None
        return
    places = _remote_places(env)
    if not places:
        yield None  # local resources only: nothing to hold on a coordinator
        return
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if tags and len(places) != 1:
        pytest.fail(
            f"--modem-lg-reserve: the environment names {len(places)} RemotePlaces; "
            "it can point exactly one at the reserved place",
            pytrace=False,
        )
    if not tags and workers > 1:
        pytest.fail(
            f"{workers} xdist workers would share the place {places[0].get('name')!r}: give "
            "--modem-lg-reserve TAG=VALUE so that each worker reserves a place of its own",
            pytrace=False,
        )
    from modemqtt.labgrid import DEFAULT_COORDINATOR, Coordinator, CoordinatorError

    address = env.config.get_option(
        "coordinator_address", os.environ.get("LG_COORDINATOR", DEFAULT_COORDINATOR)
    )
    timeout = float(config.getoption("--modem-lg-timeout"))
    try:
        coordinator = Coordinator(address, timeout=min(timeout, 30.0))
    except CoordinatorError as exc:
        pytest.fail(str(exc), pytrace=False)
    leases = []
    try:
        try:
            if tags:
                lease = coordinator.reserve(tags, timeout=timeout)
                places[0]["name"] = lease.name
                leases.append(lease)
            else:
                leases.extend(coordinator.acquire(str(p.get("name"))) for p in places)
        except CoordinatorError as exc:
            pytest.fail(f"worker {_worker()}: {exc}", pytrace=False)
        yield ", ".join(lease.name for lease in leases)
    finally:
        for lease in leases:
            try:
                lease.release()
            except CoordinatorError as exc:
                import warnings

                warnings.warn(f"releasing place {lease.name}: {exc}", stacklevel=1)
        coordinator.close()


# ----------------------------------------------------------------------------- broker


@pytest.fixture(scope="session")
def mqtt_broker(request: pytest.FixtureRequest, modem_port: str | None) -> str:
    """The broker url (``mqtt://host:port``): --mqtt-broker, or the embedded broker."""
    url = request.config.getoption("--mqtt-broker")
    if url:
        return str(url if "://" in url else f"mqtt://{url}")
    if modem_port is not None or _labgrid_env(request.config) is not None:
        pytest.fail(
            "a lab modem needs a broker it can reach: give --mqtt-broker mqtt://host:port",
            pytrace=False,
        )
    # The embedded broker is shared by the virtual modems of this process.
    with modemqtt.VirtualModem(DEFAULT_PROFILE) as vm:
        return vm.broker_url


# ----------------------------------------------------------------------------- markers


def _requirements(node: pytest.Item) -> dict[str, Any]:
    req: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers(MARKER))):  # closest marker wins
        if mark.args:
            req["family"] = mark.args[0]
        req.update(mark.kwargs)
    return req


def _caps_of(modem: modemqtt.Modem) -> dict[str, Any] | str:
    """The capabilities of the modem's MQTT stack, or why there are none."""
    try:
        family = modem.family
    except modemqtt.ModemError as exc:
        return f"no MQTT family: {exc}"
    if not family:
        return "no supported MQTT family answers"
    # Opening a client object sends nothing; closing one never connected sends nothing.
    if family == "aliyun":
        # The Alibaba firmware's client is opened with a device triple; a placeholder one
        # is enough to read the limits.
        client = modem.aliyun_mqtt("a1caps00000", "caps", "0" * 32)
    else:
        client = modem.mqtt(f"caps-{uuid.uuid4().hex[:8]}", 0)
    try:
        return dict(client.capabilities())
    finally:
        client.close()


def _lacks(caps: dict[str, Any] | str, req: dict[str, Any]) -> str | None:
    """Why ``caps`` does not satisfy ``req``, or None."""
    if isinstance(caps, str):
        return caps if req else None
    for key, want in req.items():
        if key == "family":
            names = (want,) if isinstance(want, str) else tuple(want)
            if caps["family"] not in names:
                return f"needs MQTT family {' or '.join(names)}, the modem has {caps['family']}"
            continue
        if key not in caps:
            raise pytest.UsageError(
                f"@pytest.mark.{MARKER}: unknown capability {key!r}; known: "
                f"family, {', '.join(sorted(caps))}"
            )
        have = caps[key]
        if isinstance(want, bool) or isinstance(have, bool):
            if bool(want) and not have:
                return f"needs {key}, the modem ({caps['profile']}) has none"
        elif isinstance(want, (int, float)) and isinstance(have, (int, float)):
            if have < want:
                return f"needs {key} >= {want}, the modem ({caps['profile']}) has {have}"
        elif have != want:
            return f"needs {key} = {want!r}, the modem has {have!r}"
    return None


def _profile_caps(profile: str) -> dict[str, Any] | str:
    if profile not in _PROFILE_CAPS:
        with modemqtt.VirtualModem(profile) as vm, modemqtt.Modem(vm.port) as m:
            _PROFILE_CAPS[profile] = _caps_of(m)
    return _PROFILE_CAPS[profile]


def _pick_profile(request: pytest.FixtureRequest) -> str:
    chosen = request.config.getoption("--modem-profile")
    req = _requirements(request.node)
    if chosen or not req:
        return str(chosen or DEFAULT_PROFILE)
    reasons = []
    for profile in [DEFAULT_PROFILE] + [p for p in modemqtt.profiles() if p != DEFAULT_PROFILE]:
        why = _lacks(_profile_caps(profile), req)
        if why is None:
            return profile
        reasons.append(f"{profile}: {why}")
    pytest.skip(f"no virtual modem profile satisfies {req}: {'; '.join(reasons)}")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def virtual_modem(request: pytest.FixtureRequest) -> Iterator[modemqtt.VirtualModem]:
    """A fresh virtual modem (profile from --modem-profile or the test's marker)."""
    broker = request.config.getoption("--mqtt-broker")
    with modemqtt.VirtualModem(_pick_profile(request), broker) as vm:
        yield vm


@pytest.fixture
def modem(request: pytest.FixtureRequest, modem_port: str | None) -> Iterator[modemqtt.Modem]:
    """An open modem: this worker's lab modem, the labgrid target's, or a fresh virtual one."""
    if _labgrid_env(request.config) is not None:
        yield from _labgrid_modem(request)
        return
    if modem_port is None:
        vm = request.getfixturevalue("virtual_modem")
        port = vm.port
    else:
        port = modem_port
    baud = request.config.getoption("--modem-baudrate")
    with modemqtt.Modem(port, baudrate=baud) as m:
        _skip_unless_capable(request, m, f"modem on {port}")
        yield m


def _skip_unless_capable(request: pytest.FixtureRequest, m: modemqtt.Modem, which: str) -> None:
    """Skips the test when ``m`` lacks what its ``modem`` marker asks for."""
    req = _requirements(request.node)
    if req:
        why = _lacks(_caps_of(m), req)
        if why is not None:
            pytest.skip(f"{which} {why}")


def _labgrid_modem(request: pytest.FixtureRequest) -> Iterator[modemqtt.Modem]:
    """The modem of labgrid's ``target``: its ModemDriver is activated for the test and
    deactivated after it (the port is free between tests)."""
    from modemqtt.labgrid import ModemDriver

    request.getfixturevalue("modem_place")  # the place is held before the target is made
    target = request.getfixturevalue("target")
    driver = target.get_driver(ModemDriver, activate=False)
    target.activate(driver)
    try:
        m = driver.modem
        _skip_unless_capable(request, m, f"modem of {target.name} ({driver.url})")
        yield m
    finally:
        target.deactivate(driver)


@pytest.fixture
def mqtt_client(
    request: pytest.FixtureRequest, modem: modemqtt.Modem, mqtt_broker: str
) -> Iterator[modemqtt.MqttClient]:
    """A client of ``modem`` (index 0), connected to ``mqtt_broker`` with a unique id."""
    parts = urlsplit(mqtt_broker)
    assert parts.hostname is not None
    client_id = f"pytest-{_worker()}-{uuid.uuid4().hex[:10]}"
    client = modem.mqtt(client_id, 0)
    try:
        client.connect(parts.hostname, parts.port or 1883, keepalive=60)
        yield client
    finally:
        try:
            if client.is_connected():
                client.disconnect()
        except modemqtt.ModemError:
            pass  # the test may have broken the link on purpose; close() still releases
        client.close()


# ----------------------------------------------------------------------------- reports


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and call.when in ("setup", "call"):
        funcargs = getattr(item, "funcargs", {})
        m = funcargs.get("modem")
        if m is not None and hasattr(m, "transcript_text"):
            try:
                text = m.transcript_text()
            except Exception as exc:  # a broken modem must not hide the test's failure
                text = f"(transcript unavailable: {exc})"
            report.sections.append(("modem transcript", text or "(no traffic)"))
    return report

"""The ``modemqtt`` command line.

``modemqtt demo``      a publish/subscribe round trip through a virtual modem and the
                       embedded broker, with its latency
``modemqtt sim NAME``  serve a virtual modem on a pty until Ctrl-C / SIGTERM
``modemqtt profiles``  list the virtual modem profiles
``modemqtt lab``       list the modems of a lab file (``--lab FILE`` or ``$MODEMQTT_LAB``)

Where a command takes a PORT it also takes the name of a modem in the lab file.

Every command has ``--help``, ``-q/--quiet`` and ``--json``. Failures print one line on
stderr (``modemqtt: error: ...``) and exit non-zero.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import uuid
from types import FrameType
from typing import Any, Callable
from urllib.parse import urlsplit

from . import Modem, ModemError, VirtualModem, __version__, profiles

DEMO_FILTER = "modemqtt/demo/#"
DEMO_TOPIC = "modemqtt/demo/hello"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure worth one line on stderr."""


class Output:
    """Progress lines unless quiet, the result line always, or one JSON document instead."""

    def __init__(self, quiet: bool, as_json: bool) -> None:
        self.quiet = quiet
        self.as_json = as_json

    def progress(self, text: str) -> None:
        if not self.quiet and not self.as_json:
            print(text, flush=True)

    def result(self, text: str, doc: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(doc, sort_keys=True), flush=True)
        else:
            print(text, flush=True)


def _split_broker(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if not parts.hostname:
        raise CliError(f"cannot read a host from broker url {url!r}")
    return parts.hostname, parts.port or 1883


def add_lab_option(parser: argparse.ArgumentParser) -> None:
    """``--lab FILE`` for commands that take a PORT (see ``resolve_port``)."""
    parser.add_argument(
        "--lab",
        metavar="FILE",
        default=None,
        help="lab file naming modems (default: $MODEMQTT_LAB); PORT may then be a modem name",
    )


def resolve_port(port: str, lab: str | None = None) -> str:
    """PORT as given when it is a device path or URL, else the URL of the lab modem so named."""
    from .pool import resolve_port as lookup

    try:
        return lookup(port, lab)
    except LookupError as exc:
        raise CliError(str(exc.args[0]) if exc.args else str(exc)) from None


# ----------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace, out: Output) -> int:
    with VirtualModem(args.profile) as vm:
        host, port = _split_broker(vm.broker_url)
        out.progress(f"virtual modem {vm.profile} on {vm.port}, broker {vm.broker_url}")
        with Modem(vm.port) as modem:
            info = modem.info()
            out.progress(
                f"modem: {info.manufacturer} {info.model}, revision {info.revision}, "
                f"IMEI {info.imei}, dialect {info.dialect}"
            )
            client_id = f"modemqtt-demo-{uuid.uuid4().hex[:8]}"
            with modem.mqtt(client_id) as client:
                client.connect(host, port, keepalive=60)
                out.progress(f"connected as {client_id} to {host}:{port}")
                client.subscribe(DEMO_FILTER, qos=1)
                out.progress(f"subscribed to {DEMO_FILTER} (qos 1)")

                payload = f"hello from modemqtt {__version__}".encode()
                sent_at = time.time()
                client.publish(DEMO_TOPIC, payload, qos=1)
                acked_ms = (time.time() - sent_at) * 1000
                out.progress(
                    f"published {len(payload)} bytes to {DEMO_TOPIC} (qos 1), "
                    f"acknowledged in {acked_ms:.1f} ms"
                )
                msg = client.wait_message(DEMO_FILTER, timeout=args.wait)
                latency_ms = max(0.0, (msg.received_at - sent_at) * 1000)
                if msg.topic != DEMO_TOPIC or msg.payload != payload:
                    raise CliError(
                        f"round trip changed the message: sent {DEMO_TOPIC} {payload!r}, "
                        f"received {msg.topic} {msg.payload!r}"
                    )
                client.disconnect()
                out.progress("disconnected")

    out.result(
        f"round trip: {msg.topic} {msg.payload!r} in {latency_ms:.1f} ms",
        {
            "profile": args.profile,
            "modem": {
                "manufacturer": info.manufacturer,
                "model": info.model,
                "revision": info.revision,
                "imei": info.imei,
                "dialect": info.dialect,
            },
            "topic": msg.topic,
            "payload": msg.text(),
            "qos": 1,
            "publish_ack_ms": round(acked_ms, 3),
            "latency_ms": round(latency_ms, 3),
        },
    )
    return EXIT_OK


# ----------------------------------------------------------------------------- sim


def cmd_sim(args: argparse.Namespace, out: Output) -> int:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread: Ctrl-C arrives as KeyboardInterrupt
            pass
    try:
        with VirtualModem(args.profile, args.broker, part_size=args.part_size) as vm:
            if out.as_json:
                doc = {"profile": vm.profile, "port": vm.port, "broker_url": vm.broker_url}
                print(json.dumps(doc, sort_keys=True), flush=True)
            elif out.quiet:
                print(vm.port, flush=True)
            else:
                print(f"port: {vm.port}", flush=True)
                print(f"broker: {vm.broker_url}", flush=True)
                print(f"profile: {vm.profile} (Ctrl-C to stop)", flush=True)
            while not stop.wait(0.2):
                pass
        out.progress("stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


# ----------------------------------------------------------------------------- profiles


def cmd_profiles(args: argparse.Namespace, out: Output) -> int:
    names = profiles()
    if out.as_json:
        print(json.dumps(names), flush=True)
    else:
        for name in names:
            print(name, flush=True)
    return EXIT_OK


# ----------------------------------------------------------------------------- lab


def cmd_lab(args: argparse.Namespace, out: Output) -> int:
    from .pool import LAB_ENV, Pool

    pool = Pool.from_file(args.lab) if args.lab else Pool.from_env()
    if pool is None:
        raise CliError(f"no lab file: pass --lab FILE or set {LAB_ENV}")
    names = [args.name] if args.name else pool.names()
    rows = []
    for name in names:
        if name not in pool:
            known = ", ".join(pool.names())
            raise CliError(f"no modem named {name!r} in {pool.source} (known: {known})")
        m = pool[name]
        rows.append(
            {
                "name": m.name,
                "url": m.url,
                "profile": m.profile,
                "capabilities": sorted(m.capabilities),
                "free": pool.is_free(m.name),
            }
        )
    if out.as_json:
        print(json.dumps(rows, sort_keys=True), flush=True)
    elif out.quiet:
        for r in rows:
            print(r["url"], flush=True)
    else:
        for r in rows:
            caps = ",".join(r["capabilities"]) or "-"
            state = "free" if r["free"] else "in use"
            print(f"{r['name']}\t{r['url']}\t{r['profile'] or '-'}\t{caps}\t{state}", flush=True)
    return EXIT_OK


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="print only the result")
    common.add_argument("--json", action="store_true", help="print the result as one JSON line")

    parser = argparse.ArgumentParser(
        prog="modemqtt",
        description="MQTT through cellular modems' AT command sets, and a virtual modem.",
    )
    parser.add_argument("--version", action="version", version=f"modemqtt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="round trip through a virtual modem and the embedded broker",
        description="Start a virtual modem with the embedded broker, connect, subscribe, "
        "publish one message at QoS 1 and print the round trip with its latency.",
    )
    demo.add_argument("--profile", default="a7600", help="virtual modem profile (default: a7600)")
    demo.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the message to come back (default: 10)",
    )
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser(
        "sim",
        parents=[common],
        help="serve a virtual modem on a pty until Ctrl-C",
        description="Serve a virtual modem on a pseudo-terminal: print its port and broker "
        "url, then answer AT commands until Ctrl-C or SIGTERM.",
    )
    sim.add_argument("profile", metavar="PROFILE", help="one of: modemqtt profiles")
    sim.add_argument(
        "--broker",
        metavar="URL",
        default=None,
        help="broker the modem connects to, e.g. mqtt://127.0.0.1:1883 "
        "(default: start the embedded broker)",
    )
    sim.add_argument(
        "--part-size",
        type=int,
        default=1024,
        metavar="N",
        help="split received topics/payloads into URC parts of N bytes (default: 1024)",
    )
    sim.set_defaults(func=cmd_sim)

    prof = sub.add_parser(
        "profiles",
        parents=[common],
        help="list the virtual modem profiles",
        description="List the virtual modem profiles.",
    )
    prof.set_defaults(func=cmd_profiles)

    lab = sub.add_parser(
        "lab",
        parents=[common],
        help="list the modems of a lab file",
        description="List the modems of a lab file (name, url, profile, capabilities, "
        "whether someone holds it). PORT arguments of other commands accept these names.",
    )
    lab.add_argument("name", nargs="?", metavar="NAME", help="show only this modem")
    add_lab_option(lab)
    lab.set_defaults(func=cmd_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace, Output], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    out = Output(quiet=args.quiet, as_json=args.json)
    try:
        return func(args, out)
    except (ModemError, CliError) as exc:
        kind = type(exc).__name__
        print(f"modemqtt: error: {kind}: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except (ValueError, OSError, LookupError) as exc:
        print(f"modemqtt: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("modemqtt: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

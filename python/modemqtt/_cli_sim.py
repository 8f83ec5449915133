"""``modemqtt sim``: serve a virtual modem on a pty until Ctrl-C, and the ``--timing`` option
it shares with ``modemqtt demo``."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from types import FrameType
from typing import Any

from . import NetworkTiming, VirtualModem
from ._cli_base import EXIT_OK, Output

# The network timing presets of `sim` and `demo` (NetworkTiming.preset).
TIMING_PRESETS = ("fast", "realistic")


def timing_text(t: NetworkTiming) -> str:
    if t.delay == 0 and t.jitter == 0:
        return "no network delay"
    return f"{t.delay * 1000:.0f} ms + up to {t.jitter * 1000:.0f} ms"


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
    hosts: dict[str, str | None] = {}
    for item in args.host or []:
        name, sep, target = item.partition("=")
        hosts[name] = target if sep else None
    try:
        with VirtualModem(
            args.profile, args.broker, part_size=args.part_size, hosts=hosts, timing=args.timing
        ) as vm:
            t = vm.timing
            if out.as_json:
                doc = {
                    "profile": vm.profile,
                    "port": vm.port,
                    "broker_url": vm.broker_url,
                    "timing": {"name": args.timing, "delay": t.delay, "jitter": t.jitter},
                }
                print(json.dumps(doc, sort_keys=True), flush=True)
            elif out.quiet:
                print(vm.port, flush=True)
            else:
                print(f"port: {vm.port}", flush=True)
                print(f"broker: {vm.broker_url}", flush=True)
                print(f"timing: {args.timing} ({timing_text(t)})", flush=True)
                print(f"profile: {vm.profile} (Ctrl-C to stop)", flush=True)
            while not stop.wait(0.2):
                pass
        out.progress("stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def add_timing_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timing",
        choices=TIMING_PRESETS,
        default="fast",
        help="network timing of the virtual modem: fast (results right after OK, the "
        "default) or realistic (the round trip of the profile's radio: LTE, LTE-M or NB-IoT)",
    )

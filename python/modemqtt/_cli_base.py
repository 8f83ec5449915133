"""What every ``modemqtt`` command shares: exit codes, output, the PORT argument."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import urlsplit

from . import Modem

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


def split_broker(url: str) -> tuple[str, int]:
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


def open_modem(args: argparse.Namespace, out: Output) -> Modem:
    port = resolve_port(args.port, getattr(args, "lab", None))
    out.progress(f"opening {port}")
    modem = Modem(
        port,
        baudrate=args.baudrate,
        timeout=args.timeout,
        family=args.family,
        record=args.record,
    )
    if args.record:
        out.progress(f"recording the wire traffic to {args.record}")
    return modem

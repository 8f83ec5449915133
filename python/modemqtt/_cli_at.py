"""``modemqtt at PORT``: the AT terminal (history, URCs shown as they come, scripts on stdin)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from . import Modem, ModemError
from ._cli_base import EXIT_FAILED, EXIT_OK, Output, open_modem


class Terminal:
    """The interactive part of ``modemqtt at``: reads lines, prints answers and URCs."""

    PROMPT = "AT> "

    def __init__(self, modem: Modem, out: Output, timeout: float, history: str | None) -> None:
        self.modem = modem
        self.out = out
        self.timeout = timeout
        self.interactive = sys.stdin.isatty()
        self.history = history
        # Lines that failed (ModemError, not an AT command, bad `wait`).
        self.failed = 0
        self.lock = threading.Lock()
        self.readline: Any = None
        if self.interactive:
            try:
                import readline

                self.readline = readline
                if history:
                    try:
                        readline.read_history_file(history)
                    except OSError:
                        pass  # first run: no history yet
            except ImportError:  # e.g. Windows without pyreadline
                self.readline = None

    def show(self, text: str) -> None:
        with self.lock:
            print(text, flush=True)

    def show_urc(self, line: str) -> None:
        text = f"{self._json_or('urc', line)}"
        with self.lock:
            if self.interactive and self.readline is not None:
                # Print above the prompt, then redraw the prompt and what was typed.
                buf = self.readline.get_line_buffer()
                sys.stdout.write(f"\r\x1b[K{text}\n{self.PROMPT}{buf}")
                sys.stdout.flush()
            else:
                print(text, flush=True)

    def _json_or(self, kind: str, line: str) -> str:
        if self.out.as_json:
            return json.dumps({"type": kind, "line": line, "t": time.time()})
        return f"<< {line}" if kind == "urc" else line

    def read(self) -> str | None:
        try:
            if self.interactive:
                return input(self.PROMPT)
            line = sys.stdin.readline()
            return line.rstrip("\r\n") if line else None
        except EOFError:
            return None

    def run_line(self, line: str) -> bool:
        """Runs one input line; False when the user asked to leave."""
        text = line.strip()
        if not text:
            return True
        word = text.split()[0].lower()
        if word in ("exit", "quit"):
            return False
        if word == "help":
            self.show(
                "type AT commands (AT+CSQ); 'AT+CMD <<< DATA' sends DATA after the '>' "
                "prompt; 'wait SECONDS' shows URCs meanwhile; 'exit' or Ctrl-D leaves"
            )
            return True
        if word == "wait":
            try:
                seconds = float(text.split()[1])
            except (IndexError, ValueError):
                self.show("usage: wait SECONDS")
                self.failed += 1
                return True
            time.sleep(max(0.0, min(seconds, 3600.0)))
            return True
        if not text.upper().startswith("AT"):
            self.show(f"not an AT command: {text!r} (type 'help')")
            self.failed += 1
            return True
        data = None
        if " <<< " in text:
            text, _, rest = text.partition(" <<< ")
            data = rest.encode()
        try:
            r = self.modem.command(text, timeout=self.timeout, data=data)
        except ModemError as exc:
            self.failed += 1
            kind = type(exc).__name__
            if self.out.as_json:
                self.show(
                    json.dumps(
                        {"type": "error", "command": text, "error": kind, "message": str(exc)}
                    )
                )
            else:
                self.show(f"{kind}: {exc}")
            return True
        if self.out.as_json:
            self.show(
                json.dumps(
                    {"type": "response", "command": text, "lines": r.lines, "final": r.final}
                )
            )
        else:
            for rline in r.lines:
                self.show(rline)
            self.show(r.final)
        return True

    def loop(self) -> None:
        while True:
            try:
                line = self.read()
            except KeyboardInterrupt:  # Ctrl-C drops the line, as in a shell
                print(flush=True)
                continue
            if line is None or not self.run_line(line):
                break

    def save_history(self) -> None:
        if self.readline is not None and self.history:
            try:
                self.readline.write_history_file(self.history)
            except OSError as exc:
                print(f"modemqtt: cannot save history to {self.history}: {exc}", file=sys.stderr)


def cmd_at(args: argparse.Namespace, out: Output) -> int:
    transcript = args.transcript or "-"
    modem = open_modem(args, out)
    term = Terminal(modem, out, args.timeout, args.history)
    try:
        modem.on_urc(term.show_urc)
        if term.interactive and not out.quiet:
            info = modem.info()
            print(
                f"{info.manufacturer} {info.model} ({info.revision}) on {args.port}; "
                "'help' for help, Ctrl-D to leave",
                flush=True,
            )
        term.loop()
    finally:
        modem.on_urc(None)
        try:
            text = modem.transcript_text()
        finally:
            modem.close()
        term.save_history()
        if transcript != "-":
            with open(transcript, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            if not out.quiet:
                print(f"transcript saved to {transcript}", file=sys.stderr, flush=True)
    if term.failed and not term.interactive:
        # A script (stdin not a terminal) fails like a shell script with `set -e` would.
        print(
            f"modemqtt: error: {term.failed} of the script's lines failed",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_FAILED
    return EXIT_OK

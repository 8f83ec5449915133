"""Raw AT commands, URCs and the wire transcript, on a virtual SIM7600.

Run: python examples/raw_at.py
"""

from __future__ import annotations

import sys

import modemqtt


def main() -> int:
    with modemqtt.VirtualModem("sim7600") as vm, modemqtt.Modem(vm.port, timeout=5.0) as modem:
        modem.on_urc(lambda line: print(f"URC: {line}"))

        print(modem.command("AT+CSQ"))
        quality = modem.signal_quality()
        print(f"signal: {quality.rssi_dbm} dBm (raw {quality.rssi})")
        print(f"registered: {modem.wait_registered(timeout=10)}")

        vm.refuse("AT+CPIN?", "+CME ERROR: 10")
        try:
            modem.command("AT+CPIN?")
        except modemqtt.CommandError as err:
            print(f"{err.command} failed with +CME ERROR {err.code}")

        print("--- transcript ---")
        print(modem.transcript_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

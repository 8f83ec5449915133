"""The ``modemqtt`` command line.

``modemqtt demo``        a publish/subscribe round trip through a virtual modem and the
                         embedded broker, with its latency
``modemqtt sim NAME``    serve a virtual modem (or ``replay:FILE``) on a pty until Ctrl-C
``modemqtt profiles``    list the virtual modem profiles
``modemqtt probe PORT``  identify a modem and the MQTT families its firmware answers
``modemqtt pub PORT``    publish like mosquitto_pub, through a modem
``modemqtt sub PORT``    subscribe like mosquitto_sub, through a modem
``modemqtt at PORT``     AT terminal (history, URCs; ``--transcript FILE`` saves the wire)
``modemqtt record PORT`` record a session's wire traffic for replay on a virtual modem
``modemqtt lab``         list the modems of a lab file (``--lab FILE`` or ``$MODEMQTT_LAB``)

Where a command takes a PORT it also takes the name of a modem in the lab file.

Every command has ``--help`` and ``--json``; ``-q/--quiet`` prints only the result (``pub``
and ``sub`` follow mosquitto, where ``-q`` is the QoS: use ``--quiet`` there). Failures print
one line on stderr (``modemqtt: error: ...``) and exit non-zero.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sys
import threading
import time
import uuid
from types import FrameType
from typing import Any, Callable
from urllib.parse import urlsplit

from . import Modem, ModemError, ModemTimeout, VirtualModem, __version__, profiles
from ._cli_at import cmd_at
from ._cli_base import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Output,
    add_lab_option,
    open_modem,
    split_broker,
)
from ._cli_base import resolve_port as resolve_port  # the lab's name lookup, for callers
from ._cli_sim import add_timing_argument, cmd_sim, timing_text

DEMO_FILTER = "modemqtt/demo/#"
DEMO_TOPIC = "modemqtt/demo/hello"
# A made-up device triple for the Alibaba-cloud profiles (product key <= 11 characters).
DEMO_ALIYUN_DEVICE = ("a1DemoPk001", "modemqtt-demo", "demo-device-secret")

# ----------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace, out: Output) -> int:
    with VirtualModem(args.profile, timing=args.timing) as vm:
        host, port = split_broker(vm.broker_url)
        out.progress(
            f"virtual modem {vm.profile} on {vm.port}, broker {vm.broker_url}, "
            f"network timing {args.timing} ({timing_text(vm.timing)})"
        )
        with Modem(vm.port) as modem:
            info = modem.info()
            out.progress(
                f"modem: {info.manufacturer} {info.model}, revision {info.revision}, "
                f"{id_label(info.family)} {info.imei}, family {info.family}"
            )
            client_id = f"modemqtt-demo-{uuid.uuid4().hex[:8]}"
            topic, topic_filter = DEMO_TOPIC, DEMO_FILTER
            if info.family == "aliyun":
                # Alibaba-cloud firmware: the modem logs in with a device triple and
                # connects to the platform (here: the embedded broker) by itself.
                pk, dn, ds = DEMO_ALIYUN_DEVICE
                client_id, host, port = f"{pk}.{dn}", "the platform", 1883
                topic, topic_filter = f"/{pk}/{dn}/update", f"/{pk}/{dn}/#"
                opened = modem.aliyun_mqtt(pk, dn, ds)
            else:
                opened = modem.mqtt(client_id)
            with opened as client:
                if info.family == "aliyun":
                    client.connect(keepalive=60)
                else:
                    client.connect(host, port, keepalive=60)
                out.progress(f"connected as {client_id} to {host}:{port}")
                client.subscribe(topic_filter, qos=1)
                out.progress(f"subscribed to {topic_filter} (qos 1)")

                payload = f"hello from modemqtt {__version__}".encode()
                sent_at = time.time()
                client.publish(topic, payload, qos=1)
                acked_ms = (time.time() - sent_at) * 1000
                out.progress(
                    f"published {len(payload)} bytes to {topic} (qos 1), "
                    f"acknowledged in {acked_ms:.1f} ms"
                )
                msg = client.wait_message(topic_filter, timeout=args.wait)
                latency_ms = max(0.0, (msg.received_at - sent_at) * 1000)
                if msg.topic != topic or msg.payload != payload:
                    raise CliError(
                        f"round trip changed the message: sent {topic} {payload!r}, "
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
                "family": info.family,
            },
            "topic": msg.topic,
            "payload": msg.text(),
            "qos": 1,
            "publish_ack_ms": round(acked_ms, 3),
            "latency_ms": round(latency_ms, 3),
        },
    )
    return EXIT_OK


def id_label(family: str | None) -> str:
    """What ``ModemInfo.imei`` holds: a Wi-Fi chip (ESP-AT) gives its station MAC."""
    return "MAC" if family == "espat" else "IMEI"


# ----------------------------------------------------------------------------- profiles


def cmd_profiles(args: argparse.Namespace, out: Output) -> int:
    names = profiles()
    if out.as_json:
        print(json.dumps(names), flush=True)
    else:
        for name in names:
            print(name, flush=True)
    return EXIT_OK


# ----------------------------------------------------------------------------- lab commands


def _value(lines: list[str], prefix: str) -> str | None:
    for line in lines:
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def cmd_probe(args: argparse.Namespace, out: Output) -> int:
    from ._core import families as core_families

    with open_modem(args, out) as modem:
        info = modem.info()
        out.progress(f"modem answers: {info.manufacturer} {info.model}")
        doc: dict[str, Any] = {
            "port": args.port,
            "manufacturer": info.manufacturer,
            "model": info.model,
            "firmware": info.revision,
            "imei": info.imei,
            "family": info.family or None,
        }
        try:
            sim = _value(modem.command("AT+CPIN?").lines, "+CPIN:")
        except ModemError as exc:  # e.g. +CME ERROR: 10 (SIM not inserted)
            sim = f"error: {exc}"
        doc["sim"] = sim
        try:
            doc["registration"] = modem.registration()
        except ModemError as exc:  # a modem that does not answer a registration query
            out.progress(f"registration: {exc}")
            doc["registration"] = {}
        try:
            sq = modem.signal_quality()
            doc["signal"] = {"rssi": sq.rssi, "rssi_dbm": sq.rssi_dbm, "ber": sq.ber}
        except ModemError as exc:
            doc["signal"] = {"error": str(exc)}
        families: dict[str, bool] = {}
        for name, probe in core_families():
            out.progress(f"trying {probe}")
            try:
                modem.command(probe)
                families[name] = True
            except ModemError:
                families[name] = False
        doc["families"] = families

    sig = doc["signal"]
    if "error" in sig:
        signal_text = sig["error"]
    elif sig["rssi_dbm"] is None:
        signal_text = "unknown (rssi 99)"
    else:
        ber = "unknown" if sig["ber"] is None else sig["ber"]
        signal_text = f"{sig['rssi_dbm']} dBm (rssi {sig['rssi']}), ber {ber}"
    reg = doc["registration"]
    found = [n for n, ok in families.items() if ok]
    rows = [
        ("port", args.port),
        ("manufacturer", doc["manufacturer"]),
        ("model", doc["model"]),
        ("firmware", doc["firmware"]),
        (id_label(doc["family"]), doc["imei"]),
        ("SIM", doc["sim"] or "?"),
        ("registration", ", ".join(f"{k.upper()} {v}" for k, v in reg.items()) or "?"),
        ("signal", signal_text),
        (
            "MQTT families",
            ", ".join(f"{n} (in use)" if n == doc["family"] else n for n in found) or "none",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    out.result("\n".join(f"{k:<{width}}  {v}" for k, v in rows), doc)
    return EXIT_OK


def _broker(args: argparse.Namespace) -> tuple[str, int, str | None]:
    """(host, port, topic from -L) from -h/-p/-L."""
    topic = None
    host, port = args.host, args.port_number
    if args.url:
        parts = urlsplit(args.url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise CliError(f"-L {args.url!r}: expected mqtt://host[:port]/topic")
        if not parts.hostname:
            raise CliError(f"-L {args.url!r}: no host")
        host = parts.hostname
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        if parts.username and args.username is None:
            args.username = parts.username
        if parts.password and args.password is None:
            args.password = parts.password
        topic = parts.path.lstrip("/") or None
    if not host:
        raise CliError("no broker: give -h HOST [-p PORT] or -L mqtt://host:port/topic")
    return host, port or 1883, topic


def _tls(args: argparse.Namespace) -> Any:
    from . import Tls

    if not (args.cafile or args.cert or args.key or args.insecure):
        return None
    if bool(args.cert) != bool(args.key):
        raise CliError("--cert and --key go together")
    return Tls(
        ca_cert=args.cafile,
        client_cert=args.cert,
        client_key=args.key,
        verify_server=not args.insecure,
    )


def _connect(args: argparse.Namespace, out: Output, modem: Modem, default_id: str) -> Any:
    host, port, topic = _broker(args)
    if topic and not args.topic:
        args.topic = [topic] if isinstance(args.topic, list) else topic
    client_id = args.id or f"{default_id}-{uuid.uuid4().hex[:8]}"
    client = modem.mqtt(client_id, index=args.index)
    tls = _tls(args)
    if tls is not None:
        out.progress(
            f"connecting to {host}:{port} with TLS (uploading certificates) as {client_id}"
        )
    else:
        out.progress(f"connecting to {host}:{port} as {client_id}")
    client.connect(
        host,
        port,
        keepalive=args.keepalive,
        clean_session=not args.disable_clean_session,
        username=args.username,
        password=args.password,
        tls=tls,
        timeout=args.connect_timeout,
    )
    out.progress("connected")
    return client


def cmd_pub(args: argparse.Namespace, out: Output) -> int:
    sources = [x for x in (args.message is not None, args.file is not None, args.null) if x]
    if len(sources) != 1:
        raise CliError("give exactly one of -m MESSAGE, -f FILE or -n (empty message)")
    if args.file is not None:
        with open(args.file, "rb") as f:
            payload = f.read()
    elif args.null:
        payload = b""
    else:
        payload = args.message.encode()
    with open_modem(args, out) as modem:
        with _connect(args, out, modem, "modemqtt-pub") as client:
            if not args.topic:
                raise CliError("no topic: give -t TOPIC")
            sent = time.time()
            client.publish(args.topic, payload, qos=args.qos, retain=args.retain)
            ms = (time.time() - sent) * 1000
            client.disconnect()
    out.result(
        f"published {len(payload)} bytes to {args.topic} (qos {args.qos}"
        f"{', retained' if args.retain else ''}) in {ms:.1f} ms",
        {
            "topic": args.topic,
            "bytes": len(payload),
            "qos": args.qos,
            "retain": args.retain,
            "ms": round(ms, 3),
        },
    )
    return EXIT_OK


def _message_doc(msg: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "topic": msg.topic,
        "qos": msg.qos,
        "retain": msg.retain,
        "received_at": msg.received_at,
        "client_index": msg.client_index,
    }
    try:
        doc["payload"] = msg.payload.decode("utf-8")
    except UnicodeDecodeError:
        doc["payload_base64"] = base64.b64encode(msg.payload).decode("ascii")
    return doc


def cmd_sub(args: argparse.Namespace, out: Output) -> int:
    if args.count is not None and args.count < 1:
        raise CliError("-C: must be at least 1")
    if args.wait is not None and args.wait <= 0:
        raise CliError("-W: must be positive")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    try:
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, on_signal)
    except ValueError:  # not the main thread
        pass
    received = 0
    deadline = None if args.wait is None else time.monotonic() + args.wait
    try:
        with open_modem(args, out) as modem, _connect(args, out, modem, "modemqtt-sub") as client:
            if not args.topic:
                raise CliError("no topic: give -t TOPIC")
            client.subscribe([(t, args.qos) for t in args.topic])
            out.progress(f"subscribed to {', '.join(args.topic)} (qos {args.qos})")
            while not stop.is_set():
                if args.count is not None and received >= args.count:
                    break
                slice_s = 0.2
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    slice_s = min(slice_s, left)
                try:
                    msg = client.wait_message(timeout=slice_s)
                except ModemTimeout:
                    continue
                received += 1
                if out.as_json:
                    print(json.dumps(_message_doc(msg), sort_keys=True), flush=True)
                else:
                    line = msg.payload
                    if args.verbose:
                        line = msg.topic.encode() + b" " + line
                    sys.stdout.buffer.write(line + b"\n")
                    sys.stdout.flush()
            if client.is_connected():
                client.disconnect()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.wait is not None and not stop.is_set():
        wanted = args.count if args.count is not None else 1
        if received < wanted:
            raise CliError(
                f"timed out after {args.wait:g} s: received {received} of {wanted} message"
                f"{'s' if wanted != 1 else ''}"
            )
    out.progress(f"received {received} message{'s' if received != 1 else ''}")
    return EXIT_OK


RECORD_TOPIC = "modemqtt/record"
RECORD_PAYLOAD = b"modemqtt record check"


def cmd_record(args: argparse.Namespace, out: Output) -> int:
    """A fixed session, so replaying the same command against the recording matches."""
    args.record = args.output
    if args.at:
        args.transcript = args.transcript or "-"
        return cmd_at(args, out)
    doc: dict[str, Any] = {"output": args.output}
    with open_modem(args, out) as modem:
        info = modem.info()
        out.progress(f"modem: {info.manufacturer} {info.model}, family {info.family or '?'}")
        doc["model"] = info.model
        doc["family"] = info.family or None
        modem.signal_quality()
        doc["registration"] = modem.registration()
        if args.host or args.url:
            with _connect(args, out, modem, "modemqtt-record") as client:
                topic = args.topic or RECORD_TOPIC
                client.subscribe(topic, qos=1)
                out.progress(f"subscribed to {topic}, publishing {len(RECORD_PAYLOAD)} bytes")
                client.publish(topic, RECORD_PAYLOAD, qos=1)
                msg = client.wait_message(topic, timeout=args.wait)
                if msg.payload != RECORD_PAYLOAD:
                    raise CliError(f"round trip changed the payload: {msg.payload!r}")
                out.progress("round trip done")
                client.unsubscribe(topic)
                client.disconnect()
            doc["round_trip"] = True
        else:
            doc["round_trip"] = False
    with open(args.output, encoding="utf-8") as f:
        doc["chunks"] = sum(1 for _ in f) - 1
    out.result(f"recorded {doc['chunks']} chunks to {args.output}", doc)
    return EXIT_OK


def _modem_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "port",
        metavar="PORT",
        help="/dev/ttyUSB2, socket://host:port, rfc2217://host:port, sim://a7600 "
        "or a lab modem name",
    )
    add_lab_option(p)
    p.add_argument("--baudrate", type=int, default=115200, help="line speed (default: 115200)")
    p.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="per-command deadline (5)"
    )
    p.add_argument(
        "--family",
        "--dialect",
        dest="family",
        default="auto",
        help="MQTT command family: auto, cmqtt, qmt, aliyun, espat (default: auto; "
        "--dialect is its deprecated old name)",
    )


def _broker_options(p: argparse.ArgumentParser, with_topic: str) -> None:
    g = p.add_argument_group("broker (as in mosquitto_pub/sub)")
    g.add_argument("-h", "--host", help="broker host")
    g.add_argument("-p", "--port", dest="port_number", type=int, help="broker port (1883)")
    g.add_argument("-L", "--url", help="mqtt://[user[:password]@]host[:port]/topic")
    g.add_argument("-i", "--id", help="client id (default: a random one)")
    g.add_argument("-k", "--keepalive", type=int, default=60, help="keepalive, s (60)")
    g.add_argument("-u", "--username")
    g.add_argument("-P", "--pw", "--password", dest="password")
    g.add_argument(
        "-c",
        "--disable-clean-session",
        action="store_true",
        help="keep the session on the broker",
    )
    g.add_argument("--cafile", help="CA certificate (PEM) to verify the broker with TLS")
    g.add_argument("--cert", help="client certificate (PEM)")
    g.add_argument("--key", help="client private key (PEM)")
    g.add_argument("--insecure", action="store_true", help="TLS without verifying the broker")
    g.add_argument("--index", type=int, default=0, help="the modem's MQTT client index (0)")
    g.add_argument(
        "--connect-timeout", type=float, default=30.0, metavar="S", help="connect deadline (30)"
    )
    if with_topic == "many":
        g.add_argument(
            "-t", "--topic", action="append", help="topic filter to subscribe to (repeatable)"
        )
    else:
        g.add_argument("-t", "--topic", help="topic to publish to")


def add_lab_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """probe, pub, sub, at, record."""
    record_opt = argparse.ArgumentParser(add_help=False)
    record_opt.add_argument(
        "--record", metavar="FILE", help="also save the wire traffic as JSON lines (for replay)"
    )
    json_opt = argparse.ArgumentParser(add_help=False)
    json_opt.add_argument("--json", action="store_true", help="print JSON lines")
    json_opt.add_argument("--quiet", action="store_true", help="print only the result")

    probe = sub.add_parser(
        "probe",
        parents=[common, record_opt],
        help="identify a modem and its MQTT families",
        description="Identify the modem on PORT (manufacturer, model, firmware, IMEI, SIM, "
        "registration, signal) and list the MQTT command families its firmware answers.",
    )
    _modem_options(probe)
    probe.set_defaults(func=cmd_probe)

    pub = sub.add_parser(
        "pub",
        parents=[json_opt, record_opt],
        add_help=False,
        help="publish a message through a modem (like mosquitto_pub)",
        description="Connect the modem's MQTT client to a broker, publish one message, "
        "disconnect. Options follow mosquitto_pub (-h host, -q QoS).",
    )
    pub.add_argument("--help", action="help", help="show this help and exit")
    _modem_options(pub)
    _broker_options(pub, "one")
    pub.add_argument("-m", "--message", help="the payload (UTF-8)")
    pub.add_argument("-f", "--file", help="send the file's bytes as the payload")
    pub.add_argument("-n", "--null-message", dest="null", action="store_true", help="empty")
    pub.add_argument(
        "-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="QoS of the publish (0)"
    )
    pub.add_argument("-r", "--retain", action="store_true", help="ask the broker to retain it")
    pub.set_defaults(func=cmd_pub)

    sb = sub.add_parser(
        "sub",
        parents=[json_opt, record_opt],
        add_help=False,
        help="print messages received through a modem (like mosquitto_sub)",
        description="Connect the modem's MQTT client, subscribe and print each payload on "
        "its own line (--json: one JSON object per message) until -C messages arrived, "
        "-W seconds passed, or Ctrl-C. Options follow mosquitto_sub (-h host, -q QoS).",
    )
    sb.add_argument("--help", action="help", help="show this help and exit")
    _modem_options(sb)
    _broker_options(sb, "many")
    sb.add_argument(
        "-q", "--qos", type=int, choices=(0, 1, 2), default=0, help="QoS of the subscription (0)"
    )
    sb.add_argument("-C", "--count", type=int, help="exit after this many messages")
    sb.add_argument(
        "-W", "--wait", type=float, help="exit (non-zero if short of -C, or none) after S s"
    )
    sb.add_argument("-v", "--verbose", action="store_true", help="print 'topic payload'")
    sb.set_defaults(func=cmd_sub)

    at = sub.add_parser(
        "at",
        parents=[common, record_opt],
        help="interactive AT terminal",
        description="Type AT commands and see the answers; unsolicited lines (URCs) are shown "
        "as they arrive (prefixed '<<'); line editing and history when stdin is a terminal. "
        "Reads commands from stdin when it is not a terminal; then it exits non-zero if a "
        "command failed. --transcript FILE saves the masked wire transcript on exit.",
    )
    _modem_options(at)
    at.add_argument(
        "--transcript",
        metavar="FILE",
        help="save the masked wire transcript to FILE on exit (default: not saved)",
    )
    at.add_argument(
        "--history",
        metavar="FILE",
        default=os.path.join(os.path.expanduser("~"), ".modemqtt_history"),
        help="readline history file (default: ~/.modemqtt_history)",
    )
    at.set_defaults(func=cmd_at)

    rec = sub.add_parser(
        "record",
        parents=[common],
        add_help=False,
        help="record a session's wire traffic for replay",
        description="Run a fixed session on PORT (identify, signal, registration; with a "
        "broker also subscribe, publish and receive one message at QoS 1) and save its wire "
        "traffic, secrets masked, as JSON lines. Replay it with "
        "VirtualModem.replay(FILE) or 'modemqtt sim replay:FILE' and run the same command "
        "against it to check nothing changed. --at records an interactive AT session.",
    )
    rec.add_argument("--help", action="help", help="show this help and exit")
    _modem_options(rec)
    _broker_options(rec, "one")
    rec.add_argument("-o", "--output", required=True, metavar="FILE", help="the recording")
    rec.add_argument("--at", action="store_true", help="record an interactive AT session")
    rec.add_argument("--wait", type=float, default=10.0, help="round trip deadline, s (10)")
    rec.add_argument("--transcript", help=argparse.SUPPRESS)
    rec.add_argument("--history", default=None, help=argparse.SUPPRESS)
    rec.set_defaults(func=cmd_record)


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
    add_timing_argument(demo)
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
        default=None,
        metavar="N",
        help="split received topics/payloads into URC parts of N bytes "
        "(default: the profile's, 1500 on sim7600, 1024 elsewhere)",
    )
    sim.add_argument(
        "--host",
        action="append",
        metavar="NAME[=HOST:PORT]",
        help="a host name the modem resolves: to the broker, or to HOST:PORT (repeatable; "
        "localhost, loopback addresses and broker.example.org always resolve, any other "
        "name fails with the modem's DNS error)",
    )
    add_timing_argument(sim)
    sim.set_defaults(func=cmd_sim)

    prof = sub.add_parser(
        "profiles",
        parents=[common],
        help="list the virtual modem profiles",
        description="List the virtual modem profiles.",
    )
    prof.set_defaults(func=cmd_profiles)
    add_lab_commands(sub, common)

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
    except ModemError as exc:
        # The public exception's name (PortError, ModemTimeout, ...) as in the API's docs.
        kind = type(exc).__name__
        print(f"modemqtt: error: {kind}: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except CliError as exc:
        print(f"modemqtt: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except (ValueError, OSError, LookupError) as exc:
        print(f"modemqtt: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except BrokenPipeError:  # e.g. `modemqtt sub ... | head -1`
        return EXIT_OK
    except KeyboardInterrupt:
        print("modemqtt: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

"""Replaying the exchange files of tests/data against the client and the virtual modem.

Direction (a): a ScriptedModem (``Replayer`` + ``scripted``) answers each command that is the
exchange's next host line (modulo ``canon_*`` / ``normalize_*``) with the exchange's modem
output; a family driver (``drive_cmqtt``, ``drive_aliyun``, ``drive_raw``) calls the public API
so that the client sends those host lines. Any other command the client sends is an extra,
answered as the module would, and must be in the documented superset ``EXTRAS``.

Direction (b): ``feed_virtual_modem`` writes the exchange's host lines to a virtual modem's pty
and compares its output with the exchange's, block by block.
"""

from __future__ import annotations

import os
import re
import select
import termios
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

from corpus import Exchange, Modem, Step, encode, match_block
from scripted_modem import OK, ScriptedModem

PEM = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nMIIBfake\n-----END PRIVATE KEY-----\n"


class Unreachable(Exception):
    """The exchange asks for something the public API cannot express."""


# --------------------------------------------------------------------------- normalisation
def canon_cmqtt(line: str) -> str:
    """A CMQTT host line in the form the client writes it (defaults made explicit)."""
    m = re.fullmatch(r'AT\+CMQTTACCQ=(\d),("[^"]*")', line)
    if m:  # server_type 0 (plain TCP) is the default the client writes out
        return f"AT+CMQTTACCQ={m[1]},{m[2]},0"
    m = re.fullmatch(r"AT\+CMQTTPUB=(\d),(\d),(\d+)", line)
    if m:  # retain 0 is the default the client writes out
        return f"AT+CMQTTPUB={m[1]},{m[2]},{m[3]},0"
    m = re.fullmatch(r'AT\+CSSLCFG="(cacert|clientcert|clientkey)",(\d),"[^"]*"', line)
    if m:  # the client uploads the PEM under its own file name
        return f'AT+CSSLCFG="{m[1]}",{m[2]},"*"'
    return line


def normalize_cmqtt(steps: list[Step]) -> list[Step]:
    """The manual's steps as the client orders them.

    - One ``AT+CMQTTSUBTOPIC`` followed by ``AT+CMQTTSUB=<idx>`` is the one-topic
      ``AT+CMQTTSUB=<idx>,<len>,<qos>`` (the client sends the short form for one topic).
    - ``AT+CSSLCFG`` lines (SSL context set-up) come after ``AT+CMQTTACCQ``, before
      ``AT+CMQTTSSLCFG``: the client configures the context when it connects.
    """
    out: list[Step] = []
    i = 0
    while i < len(steps):
        s = steps[i]
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        m = re.fullmatch(r"AT\+CMQTTSUBTOPIC=(\d),(\d+),(\d)", s.host or "")
        if m and nxt is not None and nxt.host == f"AT+CMQTTSUB={m[1]}":
            out.append(Step(f"AT+CMQTTSUB={m[1]},{m[2]},{m[3]}", s.data, s.output, nxt.output))
            i += 2
            continue
        out.append(s)
        i += 1
    ssl = [s for s in out if (s.host or "").startswith("AT+CSSLCFG=")]
    if ssl:
        rest = [s for s in out if s not in ssl]
        at = next(
            (k + 1 for k, s in enumerate(rest) if (s.host or "").startswith("AT+CMQTTACCQ=")),
            0,
        )
        out = rest[:at] + ssl + rest[at:]
    return out


# --------------------------------------------------------------------------- direction (a)
# The documented superset: commands the client may send besides the manual's host lines.
EXTRAS_COMMON = [
    r"AT",  # first contact
    r"ATE0",  # echo off
    r"AT\+CMEE=1",  # numeric errors
    r"AT\+CGMI",  # family and profile detection
    r"AT\+CGMM",
    r"AT\+CGREG\?|AT\+CEREG\?|AT\+CREG\?",  # registration and bearer checks
]
EXTRAS = {
    "cmqtt": EXTRAS_COMMON
    + [
        r"AT\+CMQTTSTART",  # again after a failed replay step
        r"AT\+CMQTTDISC\?",  # clean-up of what an earlier host left: read the state,
        r"AT\+CMQTTDISC=\d,\d+",  # disconnect it,
        r"AT\+CMQTTREL=\d",  # and release the index before acquiring it
        r"AT\+CMQTTSTOP",
        r'AT\+CMQTTCFG="(checkUTF8|optimeout|version)",\d,\d+',  # options (issue 14)
        r'AT\+CSSLCFG="(sslversion|authmode|ignorlocaltime|ignorelocaltime|negotiatetime|enableSNI)",\d,\d+',
        r'AT\+CSSLCFG="(cacert|clientcert|clientkey)",\d,"[^"]+"',
        r'AT\+CCERTDOWN="[^"]+",\d+',  # the client uploads the PEM it was given
        r"AT\+CMQTTSSLCFG=\d,\d",  # the SSL context, also where the manual relies on the default
    ],
    "aliyun": EXTRAS_COMMON
    + [
        r"AT\+CMAUTOYIELD=\?",  # revision probe
        r"AT\+CMAUTOYIELD=0",  # polling stopped at disconnect
        r"AT\+CMYIELD=\d+",  # the client's poller
        r'AT\+CMPARA="(TIMEOUT|CLEAN|KEEPALIVE|MQTTVERSION)",\d+',  # always sent
        r"AT\+CMSTATUS\?",
        r"AT\+CMDISCONN",
        r"AT\+CAUTONET=1|AT\+CNACT=.*|AT\+CNACT\?",  # the bearer (issue 14)
        r"AT\+CCAUTH=\d+",  # authentication before a send
    ],
    "qmt": EXTRAS_COMMON,
    "sm": EXTRAS_COMMON,
    "umqtt": EXTRAS_COMMON,
    "espat": EXTRAS_COMMON
    + [
        r"AT\+SYSLOG=1",  # ERR CODE lines before ERROR
        r"AT\+GMR",  # profile detection
    ],
}


def undocumented(extras: list[str], family: str) -> list[str]:
    """The extra commands the client sent that ``EXTRAS`` does not document."""
    allowed = [re.compile(p) for p in EXTRAS[family]]
    return [e for e in extras if not any(a.fullmatch(e) for a in allowed)]


@dataclass
class Extra:
    """How the scripted modem answers a command that is not the exchange's next one."""

    pattern: str
    reply: bytes | Callable[[re.Match[str]], bytes] = OK
    data: Callable[[re.Match[str]], int] | None = None
    after: bytes = OK

    def __post_init__(self) -> None:
        self.regex = re.compile(self.pattern)


@dataclass
class Replayer:
    steps: list[Step]
    canon: Callable[[str], str]
    extras: list[Extra]
    pos: int = 0
    extra_lines: list[str] = field(default_factory=list)
    # host lines the client may pass over (recorded as not sent): the Alibaba bearer, which
    # the client may bring up itself one day (issue 14) or leave to the user
    optional: Callable[[str], bool] = lambda line: False
    _pending: tuple[bytes, int | None, bytes] = (OK, None, b"")

    def _answer(self, line: str) -> tuple[bytes, int | None, bytes]:
        j = self.pos
        while j < len(self.steps):
            step = self.steps[j]
            if step.host is not None and self.canon(step.host) == self.canon(line):
                self.skipped += [s.host or "" for s in self.steps[self.pos : j]]
                self.pos = j + 1
                n = None if step.data is None else len(step.data)
                return encode(step.output), n, encode(step.after_data)
            if not self.optional(step.host or ""):
                break
            j += 1
        self.extra_lines.append(line)
        for e in self.extras:
            m = e.regex.fullmatch(line)
            if m:
                reply = e.reply(m) if callable(e.reply) else e.reply
                return reply, (e.data(m) if e.data else None), e.after
        return OK, None, b""

    def reply(self, m: re.Match[str]) -> bytes:
        self._pending = self._answer(m.group(0))
        return self._pending[0]

    def data(self, m: re.Match[str]) -> int:
        n = self._pending[1]
        return 0 if n is None else n

    def after(self, m: re.Match[str]) -> bytes:
        return self._pending[2] if self._pending[1] is not None else b""

    skipped: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return self.skipped + [s.host or "" for s in self.steps[self.pos :]]


def scripted(replayer: Replayer) -> ScriptedModem:
    sm = ScriptedModem(default_ok=True)
    sm.on(r"AT.*", replayer.reply, data=replayer.data, after_data=replayer.after)
    return sm


def expected_messages_cmqtt(steps: list[Step]) -> list[tuple[bytes, bytes]]:
    """(topic, payload) of every receive block in the modem output, in order."""
    msgs: list[tuple[bytes, bytes]] = []
    topic, payload, want = b"", b"", ""
    for s in steps:
        for m in s.output + s.after_data:
            if m.raw:
                if want == "topic":
                    topic += m.text
                elif want == "payload":
                    payload += m.text
                continue
            if m.text.startswith(b"+CMQTTRXSTART:"):
                topic, payload = b"", b""
            elif m.text.startswith(b"+CMQTTRXTOPIC:"):
                want = "topic"
            elif m.text.startswith(b"+CMQTTRXPAYLOAD:"):
                want = "payload"
            elif m.text.startswith(b"+CMQTTRXEND:"):
                msgs.append((topic, payload))
                want = ""
    return msgs


def _text(b: bytes | None) -> str:
    if b is None:
        raise Unreachable("no data")
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Unreachable(f"topic {b!r} is not UTF-8: the API takes topics as str") from e


def wait_for(received: list, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(received) < n and time.monotonic() < deadline:
        time.sleep(0.01)


def close_client(client: object, received: list, want: int) -> None:
    """Unless ``client`` is None: waits for ``want`` messages in ``received``, then closes it."""
    if client is not None:
        wait_for(received, want)
        client.close()  # type: ignore[attr-defined]


def drive_cmqtt(modem: object, steps: list[Step], tls: str, received: list, want: int) -> list:
    """Call the public API so that the client sends the (normalised) host lines; messages go
    to ``received``, and the client waits for ``want`` of them before it closes."""
    from modemqtt import Tls, Will

    client = None
    opts: dict = {}
    will_topic: str | None = None
    will = None
    topic: str | None = None
    payload = b""
    raw: list = []
    run_raw = Raw(modem)
    for s in steps:
        h = s.host or ""
        if h in ("AT+CMQTTSTART",) or h.startswith(("AT+CSSLCFG=", "AT+CMQTTSSLCFG=")):
            continue  # done by connect()
        if m := re.fullmatch(r'AT\+CMQTTACCQ=(\d),"([^"]*)"(?:,(\d))?', h):
            opts["index"], opts["client_id"] = int(m[1]), m[2]
        elif m := re.fullmatch(r'AT\+CMQTTCFG="checkUTF8",\d,(\d)', h):
            opts["check_utf8"] = m[1] == "1"
        elif re.fullmatch(r"AT\+CMQTTWILLTOPIC=\d,\d+", h):
            will_topic = _text(s.data)
        elif m := re.fullmatch(r"AT\+CMQTTWILLMSG=\d,\d+,(\d)", h):
            will = Will(will_topic or "", s.data or b"", qos=int(m[1]))
        elif m := re.fullmatch(r'AT\+CMQTTCONNECT=\d,"tcp://([^":]+):(\d+)",(\d+),(\d)', h):
            client = modem.mqtt(  # type: ignore[attr-defined]
                opts.pop("client_id"), **opts, publish_timeout=60
            )
            client.on_message = received.append
            t = None
            if tls:
                mode = int(tls.split()[-1])
                t = Tls(
                    ca_cert=PEM if mode >= 1 else None,
                    client_cert=PEM if mode == 2 else None,
                    client_key=KEY if mode == 2 else None,
                    verify_server=mode >= 1,
                )
            client.connect(
                m[1],
                int(m[2]),
                keepalive=int(m[3]),
                clean_session=m[4] == "1",
                will=will,
                tls=t,
                timeout=10,
            )
        elif m := re.fullmatch(r"AT\+CMQTTSUB=\d,\d+,(\d)", h):
            client.subscribe(_text(s.data), qos=int(m[1]), timeout=10)  # type: ignore[union-attr]
        elif re.fullmatch(r"AT\+CMQTTTOPIC=\d,\d+", h):
            topic = _text(s.data)
        elif re.fullmatch(r"AT\+CMQTTPAYLOAD=\d,\d+", h):
            payload = s.data or b""
        elif m := re.fullmatch(r"AT\+CMQTTPUB=\d,(\d),(\d+)(?:,(\d))?", h):
            client.publish(  # type: ignore[union-attr]
                topic or "", payload, qos=int(m[1]), retain=m[3] == "1", timeout=10
            )
            topic, payload = None, b""
        elif re.fullmatch(r"AT\+CMQTTUNSUB=\d,\d+,0", h):
            client.unsubscribe(_text(s.data), timeout=10)  # type: ignore[union-attr]
        elif re.fullmatch(r"AT\+CMQTTDISC=\d,120", h):
            client.disconnect(timeout=10)  # type: ignore[union-attr]
        elif h in ("AT+CMQTTREL=0", "AT+CMQTTREL=1", "AT+CMQTTSTOP"):
            # releases the client and, as the last one, stops the service
            close_client(client, received, want)
            client = None
        else:
            # A command the API has no call for (test, read and set-up commands): the raw
            # escape hatch, whose parsed answer is checked against the exchange.
            raw.append(run_raw(s))
    close_client(client, received, want)
    return raw


def is_final(line: bytes) -> bool:
    return line in (b"OK", b"ERROR") or line.startswith(b"+CME ERROR")


def final_index(lines: list[Modem]) -> int:
    """Where the final result (OK, ERROR, +CME ERROR) is in a block, or len(lines)."""
    for k, m in enumerate(lines):
        if m.text in (b"OK", b"ERROR") or m.text.startswith(b"+CME ERROR"):
            return k
    return len(lines)


def expected_info(step: Step) -> list[Modem]:
    """The information lines of a step's answer: every line but the final result and the
    prompt, wherever it comes (before the final, or after it as a result URC)."""
    lines = step.after_data if step.data is not None else step.output
    return [m for m in lines if not m.prompt and not is_final(m.text)]


class Raw:
    """``Modem.command`` (the raw escape hatch) with the URCs seen meanwhile: a line the
    engine routes as unsolicited (``+CCAUTH:``, ``+CMYIELD:``, a result after ``OK``) does not
    come back in the response's lines but through ``on_urc``."""

    def __init__(self, modem: object) -> None:
        self.modem = modem
        self.urcs: list[str] = []
        modem.on_urc(self.urcs.append)  # type: ignore[attr-defined]

    def __call__(self, step: Step) -> tuple[Step, list[str]]:
        from modemqtt import CommandError

        start = len(self.urcs)
        finals = [m.text for m in step.output if is_final(m.text)]
        try:
            r = self.modem.command(step.host, data=step.data)  # type: ignore[attr-defined]
            lines = list(r.lines)
        except CommandError as e:
            # An exchange that ends in an error: the same error, with its text.
            if not finals or finals[-1] == b"OK" or finals[-1].decode() not in str(e):
                raise
            lines = []
        want = len(expected_info(step))
        deadline = time.monotonic() + 5.0
        while len(lines) + len(self.urcs) - start < want and time.monotonic() < deadline:
            time.sleep(0.01)
        got = lines + self.urcs[start:]
        del self.urcs[start:]  # taken: a later command must not see them
        return step, got


def drive_raw(modem: object, steps: list[Step]) -> list:
    """Every host line through ``Modem.command``; returns (step, lines) pairs for
    ``check_raw``."""
    raw = Raw(modem)
    return [raw(s) for s in steps if s.host is not None]


def check_raw(raw: list) -> None:
    """Each raw command's information lines (response lines and result URCs) are the
    exchange's, in any order between the two kinds."""
    for step, lines in raw:
        want = list(expected_info(step))
        got = [g.encode("utf-8") for g in lines]
        rest = list(got)
        for m in want:
            hit = next((g for g in rest if m.matches(g)), None)
            if hit is not None:
                rest.remove(hit)
        assert len(got) == len(want) and len(rest) == 0, (
            f"{step.host}: {lines!r} != {[m.text for m in want]!r}"
        )


# --------------------------------------------------------------------------- Alibaba
def canon_aliyun(line: str) -> str:
    """An Alibaba host line in the form the client writes it: the client picks its own
    AT+CMYIELD window (``yield_timeout``)."""
    if re.fullmatch(r"AT\+CMYIELD=\d+", line):
        return "AT+CMYIELD=*"
    return line


_PARA_ORDER = ["TIMEOUT", "CLEAN", "KEEPALIVE", "MQTTVERSION"]


def normalize_aliyun(steps: list[Step]) -> list[Step]:
    """Consecutive AT+CMPARA lines in the order the client sends them (TIMEOUT, CLEAN,
    KEEPALIVE, MQTTVERSION): the manual's order among them carries no meaning."""
    out: list[Step] = []
    run: list[Step] = []

    def key(s: Step) -> int:
        m = re.match(r'AT\+CMPARA="([A-Z]+)"', s.host or "")
        return _PARA_ORDER.index(m[1]) if m and m[1] in _PARA_ORDER else len(_PARA_ORDER)

    for s in steps + [Step(None)]:
        if (s.host or "").startswith("AT+CMPARA="):
            run.append(s)
            continue
        out.extend(sorted(run, key=key))
        run = []
        if s.host is not None or s.output:
            out.append(s)
    return out


def is_bearer(line: str) -> bool:
    """The bearer commands that start the Alibaba manuals' examples."""
    return line.startswith(("AT+CAUTONET", "AT+CNACT"))


def wait_pos(rep: Replayer, index: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while rep.pos <= index and time.monotonic() < deadline:
        time.sleep(0.01)


def drive_aliyun(modem: object, rep: Replayer, received: list, want: int) -> list:
    """The Alibaba MQTT and CoAP flows through the public API (see test_corpus_manual)."""
    steps = rep.steps
    client = None
    coap = None
    triple: tuple[str, str, str] | None = None
    para: dict = {}
    raw: list = []
    run_raw = Raw(modem)
    for i, s in enumerate(steps):
        h = s.host or ""
        if i < rep.pos or not h:
            continue  # already answered to a call that sent it
        nxt = steps[i + 1].host or "" if i + 1 < len(steps) else ""
        acked = nxt.startswith("AT+CMYIELD")
        if is_bearer(h):
            continue  # no API call: connect() may send it (see Replayer.optional)
        if m := re.fullmatch(r'AT\+CMAUTH="([^"]*)","([^"]*)","([^"]*)"', h):
            triple = (m[1], m[2], m[3])
        elif m := re.fullmatch(r'AT\+CMPARA="([A-Z]+)",(\d+)', h):
            para[m[1]] = int(m[2])
        elif h == "AT+CMCONN" and triple:
            client = modem.aliyun_mqtt(  # type: ignore[attr-defined]
                *triple,
                request_timeout=para.get("TIMEOUT"),
                mqtt_version=para.get("MQTTVERSION"),
                poll_interval=0.2,
                yield_timeout=100,
                auto_yield=False,
            )
            client.on_message = received.append
            client.connect(
                keepalive=para.get("KEEPALIVE", 60000) // 1000,
                clean_session=para.get("CLEAN", 1) == 1,
                timeout=10,
            )
        elif (m := re.fullmatch(r'AT\+CMSUB="([^"]*)",(\d)', h)) and client and acked:
            client.subscribe(m[1], qos=int(m[2]), timeout=10)
        elif (m := re.fullmatch(r'AT\+CMUNSUB="([^"]*)"', h)) and client and acked:
            client.unsubscribe(m[1], timeout=10)
        elif (m := re.fullmatch(r'AT\+CMPUB="([^"]*)",(\d),"(.*)"', h)) and client and acked:
            client.publish(m[1], m[3].encode(), qos=int(m[2]), timeout=10)
        elif h.startswith("AT+CMYIELD=") and client:
            wait_pos(rep, i)  # the client's poller sends it
        elif h == "AT+CMDISCONN" and client:
            wait_for(received, want)
            client.disconnect(timeout=10)
        elif m := re.fullmatch(r'AT\+CCINIT="([^"]*)","([^"]*)","([^"]*)"', h):
            coap = modem.aliyun_coap(m[1], m[2], m[3])  # type: ignore[attr-defined]
        elif (m := re.fullmatch(r"AT\+CCAUTH=(\d+)", h)) and coap and int(m[1]) > 0:
            coap.auth(timeout=int(m[1]) / 1000)
        elif (m := re.fullmatch(r'AT\+CCSEND="([^"]*)","(.*)",(\d+)', h)) and coap:
            r = coap.send(m[1], m[2].replace('\\"', '"'), timeout=int(m[3]) / 1000)
            assert r.code == 0x45, f"{h}: {r.code:#x}"
        elif h == "AT+CCYIELD" and coap:
            coap.receive(timeout=5)
        elif h == "AT+CCDEINIT" and coap:
            coap.close()
        else:
            raw.append(run_raw(s))
    close_client(client, received, want)
    return raw


def expected_messages_aliyun(steps: list[Step]) -> list[tuple[bytes, bytes]]:
    out = []
    for s in steps:
        for m in s.output:
            g = re.fullmatch(rb'\+CMYIELD: 12,"([^"]*)","(.*)"', m.text)
            if g:
                out.append((g[1], g[2]))
    return out


# --------------------------------------------------------------------------- direction (b)
class Pty:
    """The host end of a virtual modem's pty, read line by line with deadlines."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        termios.tcflush(self.fd, termios.TCIOFLUSH)
        self.buf = bytearray()

    def close(self) -> None:
        os.close(self.fd)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def _fill(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.fd], [], [], left)
        if r:
            self.buf += os.read(self.fd, 4096)
        return True

    def lines(self, expected: list[Modem], timeout: float = 15.0) -> list[bytes]:
        """Read as many output lines as ``expected`` holds (a ``>`` prompt is one line)."""
        deadline = time.monotonic() + timeout
        got: list[bytes] = []
        for exp in expected:
            while True:
                while self.buf[:1] in (b"\r", b"\n"):
                    del self.buf[:1]
                if exp.prompt and self.buf[:1] == b">":
                    del self.buf[: 2 if self.buf[1:2] == b" " else 1]
                    got.append(b">")
                    break
                end = self.buf.find(b"\r\n")
                if end >= 0:
                    line = bytes(self.buf[:end])
                    got.append(line)
                    del self.buf[: end + 2]
                    final = line in (b"OK", b"ERROR") or line.startswith(b"+CME ERROR")
                    if final and not exp.matches(line):
                        return got  # a final result where none was due: no use waiting
                    break
                if not self._fill(deadline):
                    return got + [b"<timeout; pending: " + bytes(self.buf) + b">"]
        return got


def feed_virtual_modem(
    vm: object, ex: Exchange, steps: list[Step], tolerate: Callable[[str], bool] | None = None
) -> list[str]:
    """Write the host lines to the virtual modem; return the blocks that differ. A set-up
    line for which ``tolerate`` is true may be answered with a plain ``ERROR`` instead."""
    pty = Pty(vm.port)  # type: ignore[attr-defined]
    problems: list[str] = []
    try:
        pty.write(b"ATE0\r")
        echo = pty.lines([Modem(b"ATE0\r"), Modem(b"OK")])
        if echo[-1:] != [b"OK"]:
            return [f"ATE0: {echo!r}"]
        # `fault-vm: drop_link <idx> before <host line>`: the example's state needs a fault
        # only the modem's side can cause (a link lost under a connected client)
        faults = [f.split(" before ", 1) for f in ex.header.get("fault-vm", [])]
        for s in steps:
            for fault, before in faults:
                if s.host == before.strip():
                    name, *args = fault.split()
                    getattr(vm, name)(*map(int, args))
            if s.host is not None:
                pty.write(s.host.encode("utf-8") + b"\r")
            got = pty.lines(s.output)
            if tolerate and s.host and tolerate(s.host) and got == [b"ERROR"]:
                continue
            if err := match_block(s.output, got):
                problems.append(f"{s.host}: {err}")
                break
            if s.data is not None:
                pty.write(s.data)
                got = pty.lines(s.after_data)
                if err := match_block(s.after_data, got):
                    problems.append(f"{s.host} (after data): {err}")
                    break
        if not problems:
            # nothing more than the exchange: the next command's answer comes first
            pty.write(b"AT\r")
            got = pty.lines([Modem(b"OK")])
            if got != [b"OK"]:
                problems.append(f"output after the exchange: {got!r}")
    finally:
        pty.close()
    return problems

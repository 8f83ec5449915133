"""Soak: a steady two-way QoS 0/1/2 flow through a virtual modem under random faults.

Not run in CI (it is meant to run for an hour: ``--minutes 60``). Setup, all in one process:

* a ``VirtualModem`` (default profile ``a7600``) with the embedded broker behind it;
* modem client 0 ("up"): publishes QoS 1 and QoS 2 (and some QoS 0) at a steady rate to
  ``<base>/up/<qos>``; ``clean_session=True``, ``auto_reconnect=True``;
* modem client 1 ("down"): subscribed to ``<base>/down/#`` at QoS 2 with
  ``clean_session=False``, ``auto_reconnect=True`` (the library resubscribes after each
  reconnect; the broker also keeps the session and queues for it while it is away);
* a paho-mqtt subscriber on the broker (``clean_session=False``, never faulted) for the up
  flow, and a paho-mqtt publisher for the down flow.

Every payload carries ``qos:seq`` plus random binary filler and a CRC-32, so the receiving
side dedupes by sequence number and checks every byte.

Faults, one every ``--fault-every`` seconds on average (uniform 0.5x-1.5x): ``drop_link``
of client 0 or 1 with a random cause (1-3 on CMQTT, 1-7 on QMT, 1 on SM), ``reboot``, noise
bytes between frames, output delivered in 1-16 byte chunks for a few seconds, response delays of
50-400 ms for a few seconds.

What "lost" means here (and why each count must be 0):

* up: a QoS 1/2 message counts as *sent* only when ``publish()`` returned, i.e. the modem
  reported the broker's PUBACK / PUBCOMP. A publish that raised (link dropped, modem
  rebooted, timeout) is counted as ``unacked``: its fate is unknown (it may or may not have
  reached the broker) and it is not a loss; if it arrives anyway it counts as received.
  The paho subscriber is never faulted and its session persists, so every *sent* message
  must reach it: ``lost_up`` = sent and never received.
* down: a QoS 1/2 message counts as *sent* when the broker acknowledged paho's publish
  (``on_publish``). The modem subscriber's session persists across every fault
  (``clean_session=False``, same client id, reconnect with the same options), so the broker
  keeps queued and unacknowledged messages for it and delivers them after the reconnect:
  ``lost_down`` = sent and never seen by ``on_message`` (nor counted in ``dropped``).
  One case would be outside the library: a modem's own MQTT stack acknowledging a message
  to the broker and then losing it before writing it to the serial line (reboot, link
  drop). The virtual modem acknowledges a message only once it is on the line (or stored,
  QMT buffer mode), so it has no such window; the ``attribution`` figure still tells the
  two apart: when the modem's count of messages written to the serial line equals the
  client's count of messages received, nothing was lost between the serial line and the
  user, and any ``lost_down`` happened inside the (virtual) modem.
* duplicates are expected for QoS 1 (a PUBACK lost with the link makes the broker resend)
  and possible for QoS 2 when a link drops between the modem's receipt and its PUBREC
  (the new link is a new MQTT session state in the modem): both are counted, not failures.
* QoS 0 is counted (sent / received) but may be lost by definition.
* A family whose modem keeps no MQTT session (``NO_SESSION``: u-blox SARA-R5, clean sessions
  only) cannot get the down flow's messages published while it is away: the broker drops
  them with the clean session. For it, paho does not publish while the modem subscriber is
  offline (from its ``on_disconnect`` to its ``on_connect``, which follows the resubscribe;
  counted as ``offline``), and a message published in the ``OFFLINE_GRACE`` seconds before
  an ``on_disconnect`` and not received then is ``excused`` (the link or the module's RAM
  may have gone with it before the loss was reported), counted apart, not a loss.

``--sub-qos 1`` makes the modem subscriber take the QoS 2 publishes of the down flow at
QoS 1 (the loss guarantee is the same, duplicates become possible). With QoS 2 (the default)
a link dropped between the modem's PUBREC and the broker's PUBREL leaves an exchange open
that the broker completes after the persistent-session resume; the virtual modem keeps those
packet ids per client id across links so that it answers the resent PUBREL with PUBCOMP.

RSS is sampled every 10 s for the whole process. With the embedded broker that includes
rumqttd's in-memory message log, which keeps every published message up to 10 segments of
64 MB by design and so grows with traffic; ``--mosquitto`` (or ``--broker URL``) moves the
broker out of the process, leaving the library, the virtual modem and the paho peers.

Output: a progress JSON line per minute (``"figure": "progress"``), then one JSON line per
figure at the end (``lost_up``, ``lost_down``, ``rss``, ``reconnects``, ...), and a final
``"figure": "verdict"`` line. Exit status 1 when a QoS 1/2 loss or a corrupt payload was
seen.

Usage: python bench/soak.py [--minutes 60] [--rate 50] [--profile a7600] [--seed N]
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from modemqtt import Modem, ModemError, MqttClient, VirtualModem

HEADER = struct.Struct(">BI")  # qos, seq


# The device triple of the Alibaba virtual modems (the embedded broker does not check the
# signature); their topics live under /<product key>/<device name>/user/.
PK, DN, DS = "CwlekguDcv3", "device", "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu"


def make_payload(rng: random.Random, qos: int, seq: int, text: bool = False) -> bytes:
    """Binary payload; with ``text`` its hex form (the Alibaba firmware carries UTF-8 text
    without CR/LF only)."""
    body = HEADER.pack(qos, seq) + rng.randbytes(rng.randint(0, 96))
    raw = body + struct.pack(">I", zlib.crc32(body))
    return raw.hex().encode() if text else raw


def parse_payload(data: bytes) -> tuple[int, int] | None:
    """``(qos, seq)``, or None when the payload is corrupt."""
    if data[:1].isalnum():
        try:
            data = bytes.fromhex(data.decode("ascii"))
        except ValueError:
            return None
    if len(data) < HEADER.size + 4:
        return None
    body, crc = data[:-4], struct.unpack(">I", data[-4:])[0]
    if zlib.crc32(body) != crc:
        return None
    return HEADER.unpack(body[: HEADER.size])


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def host_port(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


class SeqSet:
    """Sequence numbers seen, as a bitmap allocated up front, so that bookkeeping does not
    grow the process while RSS is being watched (a Python set of ints would, by ~50 bytes
    a message)."""

    def __init__(self, capacity: int) -> None:
        self.bits = bytearray(capacity // 8 + 1)
        self.count = 0

    def add(self, n: int) -> bool:
        """Records ``n``; False when it was already there."""
        byte, bit = divmod(n, 8)
        if byte >= len(self.bits):
            self.bits.extend(bytes(byte - len(self.bits) + 4096))
        if self.bits[byte] >> bit & 1:
            return False
        self.bits[byte] |= 1 << bit
        self.count += 1
        return True

    def __contains__(self, n: int) -> bool:
        byte, bit = divmod(n, 8)
        return byte < len(self.bits) and bool(self.bits[byte] >> bit & 1)

    def __len__(self) -> int:
        return self.count

    def missing_from(self, other: SeqSet) -> list[int]:
        """The numbers in ``self`` that ``other`` lacks."""
        out = []
        for i, b in enumerate(self.bits):
            if b:
                o = other.bits[i] if i < len(other.bits) else 0
                diff = b & ~o
                while diff:
                    low = diff & -diff
                    out.append(i * 8 + low.bit_length() - 1)
                    diff ^= low
        return out


CAPACITY = 1 << 21  # sequence numbers per QoS and direction before the bitmaps grow

# Families whose modem keeps no MQTT session (see the module docstring).
NO_SESSION = {"umqtt"}
# Seconds before an on_disconnect in which a down message of such a family may be lost.
OFFLINE_GRACE = 3.0


@dataclass
class Flow:
    """One direction's counters (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    attempted: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0})
    sent: dict[int, SeqSet] = field(default_factory=lambda: {q: SeqSet(CAPACITY) for q in range(3)})
    unacked: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0})
    received: dict[int, SeqSet] = field(
        default_factory=lambda: {q: SeqSet(CAPACITY) for q in range(3)}
    )
    duplicates: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0})
    corrupt: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    # NO_SESSION families: not published while the subscriber was away, and the sequence
    # numbers a disconnect may have taken (see the module docstring).
    offline: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0})
    excused: dict[int, set[int]] = field(default_factory=lambda: {0: set(), 1: set(), 2: set()})

    def on_payload(self, data: bytes) -> None:
        parsed = parse_payload(data)
        with self.lock:
            if parsed is None or parsed[0] not in (0, 1, 2):
                self.corrupt += 1
                return
            qos, seq = parsed
            if not self.received[qos].add(seq):
                self.duplicates[qos] += 1

    def error(self, e: BaseException) -> None:
        name = type(e).__name__
        with self.lock:
            self.errors[name] = self.errors.get(name, 0) + 1

    def lost(self, qos: int) -> list[int]:
        with self.lock:
            missing = self.sent[qos].missing_from(self.received[qos])
            return [n for n in missing if n not in self.excused[qos]]

    def excused_lost(self) -> dict[int, int]:
        with self.lock:
            return {
                q: len([n for n in e if n not in self.received[q]]) for q, e in self.excused.items()
            }

    def summary(self) -> dict[str, object]:
        with self.lock:
            return {
                "attempted": dict(self.attempted),
                "sent": {q: len(s) for q, s in self.sent.items()},
                "unacked": dict(self.unacked),
                "received": {q: len(s) for q, s in self.received.items()},
                "duplicates": dict(self.duplicates),
                "corrupt": self.corrupt,
                "errors": dict(self.errors),
                "offline": dict(self.offline),
            }


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.stop = threading.Event()
        self.stop_faults = threading.Event()
        self.up = Flow()
        self.down = Flow()
        self.faults: dict[str, int] = {}
        self.fault_errors: dict[str, int] = {}
        self.rss: list[tuple[float, int]] = []
        self.died: list[str] = []
        self.base = f"soak/{uuid.uuid4().hex[:8]}"
        # Set for the family in run(): payloads as text, the highest QoS the modem takes.
        self.text = False
        self.max_qos = 2
        # NO_SESSION families: whether the down subscriber is there, and when each down
        # message was published (qos, seq) -> monotonic time.
        self.sessionless = False
        self.down_online = threading.Event()
        self.down_published: dict[tuple[int, int], float] = {}
        self.t0 = time.monotonic()
        if args.verbose:
            # The library's warnings (failed reconnects, retried reads) join the timeline.
            soak = self

            class Timeline(logging.Handler):
                def emit(self, record: logging.LogRecord) -> None:
                    soak.log(f"{record.levelname.lower()} {record.getMessage()}")

            # `kill -USR1 <pid>` prints every Python thread's stack (a stall's picture).
            faulthandler.register(signal.SIGUSR1, all_threads=True)
            lib = logging.getLogger("modemqtt")
            lib.addHandler(Timeline(logging.WARNING))
            lib.setLevel(logging.WARNING)

    def log(self, what: str) -> None:
        """Timeline of faults and link events on stderr (``--verbose``)."""
        if self.args.verbose:
            print(f"{time.monotonic() - self.t0:9.2f} {what}", file=sys.stderr, flush=True)

    def emit(self, figure: dict[str, object]) -> None:
        print(json.dumps(figure), flush=True)

    # ----------------------------------------------------------------- flows

    def schedule(self) -> Iterator[tuple[bool, int, int]]:
        """The steady flow of one direction: ``rate`` QoS 1 + ``rate`` QoS 2 (+ rate/5 QoS 0)
        per second, as (one second's worth done, qos, sequence number) until ``stop``; the
        caller publishes between items and this paces them (falling behind by more than 2 s
        restarts the clock rather than bursting to catch up)."""
        rate = self.args.rate
        plan = [1, 2] * 5 + [0] if self.args.qos0 else [1, 2]
        per_tick = 2 * rate + (rate // 5 if self.args.qos0 else 0)
        interval = 1.0 / per_tick
        seq = {0: 0, 1: 0, 2: 0}
        nxt = time.monotonic()
        i = 0
        while not self.stop.is_set():
            qos = plan[i % len(plan)]
            i += 1
            seq[qos] += 1
            yield i % per_tick == 0, qos, seq[qos]
            nxt += interval
            lag = nxt - time.monotonic()
            if lag > 0:
                self.stop.wait(lag)
            elif lag < -2.0:
                nxt = time.monotonic()

    def publisher_up(self, client: MqttClient) -> None:
        """Client 0 publishes the up flow."""
        rng = random.Random(self.rng.random())
        for _, qos, n in self.schedule():
            with self.up.lock:
                self.up.attempted[qos] += 1
            try:
                # A flow's label stays its QoS; the modem sends it at the QoS it can.
                client.publish(
                    f"{self.base}/up/{qos}",
                    make_payload(rng, qos, n, self.text),
                    qos=min(qos, self.max_qos),
                )
            except ModemError as e:
                self.up.error(e)
                with self.up.lock:
                    self.up.unacked[qos] += 1
                if not client.is_connected():
                    # Wait for the reconnect instead of spinning on errors.
                    self.stop.wait(0.2)
            else:
                with self.up.lock:
                    self.up.sent[qos].add(n)

    def publisher_down(self, peer: paho.Client) -> None:
        """paho publishes the down flow."""
        rng = random.Random(self.rng.random())
        for second_done, qos, n in self.schedule():
            if self.sessionless and not self.down_online.is_set():
                with self.down.lock:
                    self.down.offline[qos] += 1
                continue
            with self.down.lock:
                self.down.attempted[qos] += 1
            if self.sessionless:
                self.down_published[(qos, n)] = time.monotonic()
            info = peer.publish(
                f"{self.base}/down/{qos}", make_payload(rng, qos, n, self.text), qos=qos
            )
            if info.rc != paho.MQTT_ERR_SUCCESS:
                with self.down.lock:
                    self.down.unacked[qos] += 1
            else:
                self.pending_down.append((qos, n, info))
            if second_done:
                self.sweep_down()

    def excuse_recent(self) -> None:
        """A NO_SESSION subscriber went: the down messages of the last ``OFFLINE_GRACE``
        seconds not received yet may have gone with its link (see the module docstring)."""
        since = time.monotonic() - OFFLINE_GRACE
        with self.down.lock:
            for (qos, n), t in list(self.down_published.items()):
                if t < since:
                    # Too old to be excused by this or any later disconnect.
                    self.down_published.pop((qos, n), None)
                elif n not in self.down.received[qos]:
                    self.down.excused[qos].add(n)

    def sweep_down(self) -> None:
        """Moves the down publishes the broker acknowledged (PUBACK / PUBCOMP) to ``sent``."""
        still = []
        for qos, n, info in self.pending_down:
            try:
                published = info.is_published()
            except (RuntimeError, ValueError):
                # paho gave up on it (a QoS 0 publish when its connection to the broker
                # dropped): its fate is unknown, as for a publish that raised.
                with self.down.lock:
                    self.down.unacked[qos] += 1
                continue
            if published:
                with self.down.lock:
                    self.down.sent[qos].add(n)
            else:
                still.append((qos, n, info))
        self.pending_down = still

    # ----------------------------------------------------------------- faults

    def fault_loop(self, vm: VirtualModem, causes: range, clients: int) -> None:
        rng = random.Random(self.rng.random())
        kinds = ["drop_link"] * 4 + ["reboot"] + ["noise"] * 3 + ["chunks"] * 2 + ["delay"] * 2
        every = self.args.fault_every
        while not self.stop_faults.wait(rng.uniform(0.5 * every, 1.5 * every)):
            kind = rng.choice(kinds)
            try:
                if kind == "drop_link":
                    vm.drop_link(rng.randint(0, clients - 1), rng.choice(causes))
                elif kind == "reboot":
                    vm.reboot()
                elif kind == "noise":
                    vm.inject_noise(rng.randbytes(rng.randint(1, 24)))
                elif kind == "chunks":
                    vm.set_chunk_size(rng.randint(1, 16))
                    self.stop_faults.wait(rng.uniform(1.0, 4.0))
                    vm.set_chunk_size(None)
                elif kind == "delay":
                    vm.set_response_delay(rng.uniform(0.05, 0.4))
                    self.stop_faults.wait(rng.uniform(1.0, 3.0))
                    vm.set_response_delay(0.0)
                self.faults[kind] = self.faults.get(kind, 0) + 1
                self.log(f"fault {kind}")
            except ModemError as e:
                # e.g. drop_link while that client is already down: not a fault injected.
                key = f"{kind}: {type(e).__name__}: {str(e)[:60]}"
                self.fault_errors[key] = self.fault_errors.get(key, 0) + 1
        vm.set_chunk_size(None)
        vm.set_response_delay(0.0)

    # ----------------------------------------------------------------- run

    def progress(self, pub: MqttClient, sub: MqttClient) -> dict[str, object]:
        up, down = self.up.summary(), self.down.summary()
        return {
            "figure": "progress",
            "minute": round((time.monotonic() - self.t0) / 60, 2),
            "up_sent": up["sent"],
            "up_received": up["received"],
            "up_unacked": up["unacked"],
            "down_sent": down["sent"],
            "down_received": down["received"],
            "rss_kib": rss_kib(),
            "reconnects": [pub.stats()["reconnects"], sub.stats()["reconnects"]],
            "faults": sum(self.faults.values()),
        }

    def run(self) -> int:
        args = self.args
        self.pending_down: list[tuple[int, int, paho.MQTTMessageInfo]] = []
        with (
            VirtualModem(args.profile, broker=args.broker) as vm,
            Modem(vm.port, timeout=10.0) as modem,
        ):
            host, port = host_port(vm.broker_url)
            tag = uuid.uuid4().hex[:8]
            causes = {"qmt": range(1, 8), "espat": range(1, 3)}.get(modem.family, range(1, 4))
            if modem.family == "sm":
                # SIMCom SM*: +SMSTATE: 0 has no cause; the receive URC is one unframed
                # line, so payloads travel in their hex form (no CR/LF).
                causes, self.text = range(1, 2), True
            if modem.family == "umqtt":
                causes = range(100, 103)  # +UUMQTTC: 0,<100|101|102>
            self.sessionless = modem.family in NO_SESSION
            aliyun = modem.family == "aliyun"
            if aliyun:
                self.base = f"/{PK}/{DN}/user/soak-{tag}"
                self.text = True
                self.max_qos = 1
                # The platform keeps a device's session across logins; the embedded broker
                # keys sessions by the whole MQTT client id, which the signature makes new
                # at each login (its timestamp) unless the virtual modem signs without one.
                vm.set_sign_timestamp(False)

            # The paho side: a persistent subscriber for the up flow, a publisher for down.
            psub = paho.Client(
                paho.CallbackAPIVersion.VERSION2, client_id=f"soak-psub-{tag}", clean_session=False
            )
            psub.on_message = lambda _c, _u, m: self.up.on_payload(m.payload)
            psub.connect(host, port)
            psub.subscribe(f"{self.base}/up/#", qos=2)
            psub.loop_start()
            ppub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"soak-ppub-{tag}")
            ppub.max_inflight_messages_set(1000)
            ppub.max_queued_messages_set(0)
            ppub.connect(host, port)
            ppub.loop_start()
            for name, peer in (("psub", psub), ("ppub", ppub)):
                peer.on_disconnect = lambda _c, _u, _f, rc, _p, n=name: self.log(
                    f"paho {n} disconnected ({rc})"
                )
                peer.on_connect = lambda _c, _u, _f, rc, _p, n=name: self.log(
                    f"paho {n} connected ({rc})"
                )

            kwargs: dict[str, object] = {"auto_reconnect": True, "reconnect_delay": (0.5, 4.0)}
            if args.receive_mode:
                kwargs["receive_mode"] = args.receive_mode
            # Modems with one MQTT client (SIM7028, the Alibaba firmware) carry both flows on
            # it; the others use client 0 for up and client 1 for down.
            if aliyun:
                pub = modem.aliyun_mqtt(
                    PK, DN, DS, queue_size=100_000, poll_interval=0.05, **kwargs
                )
                clients = 1
            else:
                pub = modem.mqtt(f"soak-up-{tag}", 0, queue_size=100_000, **kwargs)
                clients = min(2, int(pub.capabilities()["clients"]))
            sub = (
                pub
                if clients == 1
                else modem.mqtt(f"soak-down-{tag}", 1, queue_size=100_000, **kwargs)
            )
            sub.on_message = lambda m: self.down.on_payload(m.payload)
            for name, c in (("up", pub), ("down", sub)):
                c.on_disconnect = lambda cause, n=name: self.log(f"{n} disconnected ({cause})")
                c.on_connect = lambda n=name: self.log(f"{n} connected")
            if self.sessionless:

                def down_lost(cause: int) -> None:
                    self.down_online.clear()
                    self.excuse_recent()
                    self.log(f"down disconnected ({cause})")

                def down_back() -> None:
                    self.down_online.set()
                    self.log("down connected")

                sub.on_disconnect = down_lost
                sub.on_connect = down_back
            # The down flow needs a persistent session (see the module docstring).
            if aliyun:
                pub.connect(clean_session=False)
            else:
                pub.connect(host, port, clean_session=clients > 1 or self.sessionless)
                if sub is not pub:
                    sub.connect(host, port, clean_session=self.sessionless)
            sub.subscribe(f"{self.base}/down/#", qos=min(args.sub_qos, self.max_qos))
            self.down_online.set()
            time.sleep(0.5)  # let the paho subscription settle before the first publish

            threads = [
                threading.Thread(target=self.publisher_up, args=(pub,), name="soak-up"),
                threading.Thread(target=self.publisher_down, args=(ppub,), name="soak-down"),
                threading.Thread(
                    target=self.fault_loop, args=(vm, causes, clients), name="soak-faults"
                ),
            ]
            for t in threads:
                t.start()
            end = self.t0 + args.minutes * 60
            next_minute = self.t0 + 60
            next_rss = self.t0
            try:
                while time.monotonic() < end:
                    dead = [t.name for t in threads if not t.is_alive()]
                    if dead:
                        # A flow or the fault loop ended with an exception: stop and fail.
                        self.died = dead
                        break
                    now = time.monotonic()
                    if now >= next_rss:
                        self.rss.append((round(now - self.t0, 1), rss_kib()))
                        next_rss += 10
                    if now >= next_minute:
                        self.emit(self.progress(pub, sub))
                        next_minute += 60
                    time.sleep(min(1.0, max(0.0, end - now)))
            finally:
                # Faults off first, then let both clients reconnect, then stop the flows.
                self.stop_faults.set()
                threads[2].join(timeout=30)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not (
                    pub.is_connected() and sub.is_connected()
                ):
                    time.sleep(0.2)
                self.stop.set()
                for t in threads[:2]:
                    t.join(timeout=60)
            # Drain: wait until every sent message arrived or nothing new came for 20 s.
            drain_start = time.monotonic()
            last_total, last_change = -1, time.monotonic()
            while time.monotonic() - drain_start < 120:
                self.sweep_down()
                missing = sum(len(self.up.lost(q)) + len(self.down.lost(q)) for q in (1, 2))
                total = sum(len(s) for s in self.up.received.values()) + sum(
                    len(s) for s in self.down.received.values()
                )
                if missing == 0 and not self.pending_down:
                    break
                if total != last_total:
                    last_total, last_change = total, time.monotonic()
                elif time.monotonic() - last_change > 20:
                    break
                time.sleep(0.5)
            self.rss.append((round(time.monotonic() - self.t0, 1), rss_kib()))
            stats = {"up": pub.stats(), "down": sub.stats(), "modem": vm.stats()}
            pending_down = len(self.pending_down)
            pub.close()
            if sub is not pub:
                sub.close()
            for p in (psub, ppub):
                p.disconnect()
                p.loop_stop()
        return self.report(stats, pending_down)

    def report(self, stats: dict[str, dict[str, int]], pending_down: int) -> int:
        minutes = round((time.monotonic() - self.t0) / 60, 2)
        lost_up = {q: self.up.lost(q) for q in (1, 2)}
        lost_down = {q: self.down.lost(q) for q in (1, 2)}
        self.emit(
            {
                "figure": "duration",
                "minutes": minutes,
                "profile": self.args.profile,
                "sub_qos": self.args.sub_qos,
            }
        )
        self.emit({"figure": "up", **self.up.summary()})
        self.emit(
            {
                "figure": "down",
                **self.down.summary(),
                "broker_unacked": pending_down,
                "excused_lost": self.down.excused_lost(),
            }
        )
        for name, lost in (("lost_up", lost_up), ("lost_down", lost_down)):
            self.emit(
                {
                    "figure": name,
                    "qos1": len(lost[1]),
                    "qos2": len(lost[2]),
                    "first_seqs": {q: s[:20] for q, s in lost.items() if s},
                }
            )
        samples = [kib for _, kib in self.rss]
        half = samples[len(samples) // 2 :] or samples
        self.emit(
            {
                "figure": "rss",
                "first_kib": samples[0] if samples else None,
                "max_kib": max(samples) if samples else None,
                "last_kib": samples[-1] if samples else None,
                "second_half_min_kib": min(half) if half else None,
                "second_half_max_kib": max(half) if half else None,
                "samples": self.rss,
            }
        )
        self.emit(
            {
                "figure": "reconnects",
                "up": stats["up"].get("reconnects"),
                "down": stats["down"].get("reconnects"),
                "disconnects_up": stats["up"].get("disconnects"),
                "disconnects_down": stats["down"].get("disconnects"),
            }
        )
        written = stats["modem"].get("delivered", 0)
        host = stats["down"].get("received", 0)
        self.emit(
            {
                "figure": "attribution",
                "modem_wrote_to_serial": written,
                "host_received": host,
                "lost_down_inside_modem": written == host and any(lost_down.values()),
            }
        )
        self.emit({"figure": "faults", "injected": self.faults, "skipped": self.fault_errors})
        self.emit({"figure": "client_stats", **stats})
        lost = sum(len(v) for v in lost_up.values()) + sum(len(v) for v in lost_down.values())
        corrupt = self.up.corrupt + self.down.corrupt
        dropped = stats["down"].get("dropped", 0)
        ok = lost == 0 and corrupt == 0 and dropped == 0 and not self.died
        self.emit(
            {
                "figure": "verdict",
                "ok": ok,
                "lost_qos12": lost,
                "corrupt": corrupt,
                "dropped": dropped,
                "threads_died": self.died,
            }
        )
        return 0 if ok else 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mosquitto() -> tuple[subprocess.Popen[bytes], str]:
    """A mosquitto on a free port (for ``--mosquitto``), and its url."""
    port = free_port()
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    conf.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    conf.close()
    proc = subprocess.Popen(["mosquitto", "-c", conf.name], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"mqtt://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("mosquitto did not start listening within 10 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rate", type=int, default=50, help="QoS 1 and QoS 2 msgs/s, each way")
    ap.add_argument("--no-qos0", dest="qos0", action="store_false")
    ap.add_argument("--profile", default="a7600")
    ap.add_argument(
        "--sub-qos",
        type=int,
        default=2,
        choices=(1, 2),
        help="the modem subscriber's QoS",
    )
    ap.add_argument("--fault-every", type=float, default=4.0, help="mean seconds")
    ap.add_argument(
        "--receive-mode",
        choices=("urc", "buffer"),
        default=None,
        help="Quectel profiles: how the modem hands messages over (default: the library's)",
    )
    ap.add_argument("--verbose", action="store_true", help="fault/link timeline on stderr")
    ap.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    ap.add_argument(
        "--broker",
        default=None,
        help="broker url for the virtual modem and the paho peers (default: embedded broker)",
    )
    ap.add_argument(
        "--mosquitto",
        action="store_true",
        help="start a mosquitto and use it (RSS then excludes the broker's message log)",
    )
    args = ap.parse_args()
    proc = None
    if args.mosquitto:
        proc, args.broker = start_mosquitto()
    print(json.dumps({"figure": "start", **vars(args)}), flush=True)
    try:
        code = Soak(args).run()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    sys.exit(code)


if __name__ == "__main__":
    main()

"""TLS end to end: the virtual modem's SSL clients against mosquitto TLS listeners.

Certificates (a CA, a server and a client certificate, and an unrelated CA) are made for the
session with the ``openssl`` command; one mosquitto serves three listeners: TLS with server
authentication only, TLS that requires a client certificate, and plain TCP.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from modemqtt import Modem, MqttClient, MqttError, Tls, VirtualModem
from support import free_port, require_exe, run_mosquitto, unique_topic

# The names the server certificate carries; SERVER_NAME does not resolve, so the virtual
# modem redirects it to its broker and checks the certificate against it.
SERVER_NAME = "broker.modemqtt.test"


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _openssl(exe: str, *args: str) -> None:
    done = subprocess.run(
        [exe, *args], capture_output=True, timeout=30, stdin=subprocess.DEVNULL, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"openssl {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")


def _key(exe: str, path: Path) -> None:
    # PKCS#8 P-256 keys: quick to make, read by both mosquitto and rustls.
    _openssl(
        exe, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )


def _ca(exe: str, folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    _key(exe, key)
    _openssl(
        exe,
        "req",
        "-x509",
        "-new",
        "-key",
        str(key),
        "-out",
        str(cert),
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    return key, cert


def _leaf(exe: str, folder: Path, name: str, ca: tuple[Path, Path], ext: str) -> tuple[Path, Path]:
    key, csr, cert = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.pem"
    extfile = folder / f"{name}.ext"
    extfile.write_text(ext)
    _key(exe, key)
    _openssl(exe, "req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    _openssl(
        exe,
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca[1]),
        "-CAkey",
        str(ca[0]),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(extfile),
    )
    return key, cert


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    exe = require_exe("openssl", "openssl not installed: apt-get install openssl")
    folder = tmp_path_factory.mktemp("tls")
    ca = _ca(exe, folder, "modemqtt-test-ca")
    other = _ca(exe, folder, "unrelated-ca")
    server = _leaf(
        exe,
        folder,
        "server",
        ca,
        f"subjectAltName=DNS:localhost,DNS:{SERVER_NAME},IP:127.0.0.1\n"
        "extendedKeyUsage=serverAuth\n",
    )
    client = _leaf(exe, folder, "client", ca, "extendedKeyUsage=clientAuth\n")
    return Certs(
        ca=ca[1],
        server_cert=server[1],
        server_key=server[0],
        client_cert=client[1],
        client_key=client[0],
        other_ca=other[1],
    )


@dataclass(frozen=True)
class TlsBroker:
    server_auth: int
    mutual: int
    plain: int


@pytest.fixture(scope="session")
def tls_broker(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """One mosquitto: TLS (server auth), TLS requiring a client certificate, plain TCP."""
    exe = require_exe("mosquitto", "mosquitto not installed: apt-get install mosquitto")
    folder = tmp_path_factory.mktemp("mosquitto-tls")
    ports = TlsBroker(server_auth=free_port(), mutual=free_port(), plain=free_port())
    tls = f"cafile {certs.ca}\ncertfile {certs.server_cert}\nkeyfile {certs.server_key}\n"
    conf = folder / "mosquitto.conf"
    # Started as root, mosquitto drops to its own user, which could not read the session's
    # certificate folder; as any other user the option does nothing.
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"{user}allow_anonymous true\npersistence false\nlog_dest stderr\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
        f"listener {ports.server_auth} 127.0.0.1\n{tls}"
        f"listener {ports.mutual} 127.0.0.1\n{tls}require_certificate true\n"
        f"listener {ports.plain} 127.0.0.1\n"
    )
    with run_mosquitto(exe, conf, [ports.server_auth, ports.mutual, ports.plain]):
        yield ports


@pytest.fixture(scope="module")
def vm(tls_broker: TlsBroker) -> Iterator[VirtualModem]:
    # The certificate's name and another one resolve to the TLS listener (server
    # authentication); no other name resolves on the virtual network.
    names = {SERVER_NAME: None, "mqtt.example.org": None}
    url = f"mqtt://127.0.0.1:{tls_broker.server_auth}"
    with VirtualModem("a7600", broker=url, hosts=names) as v:
        yield v


def _client(modem: Modem) -> MqttClient:
    return modem.mqtt(f"tls-{uuid.uuid4().hex[:10]}")


def _mutual_round_trip(modem: Modem, tls_broker: TlsBroker, certs: Certs) -> str:
    """A round trip with a client certificate; the transcript text, which must not show
    the key's content (it was uploaded, never shown)."""
    tls = Tls(ca_cert=certs.ca, client_cert=certs.client_cert, client_key=certs.client_key)
    with _client(modem) as client:
        client.connect("localhost", tls_broker.mutual, tls=tls)
        _round_trip(client)
    wire = modem.transcript_text()
    key_lines = [
        line for line in certs.client_key.read_text().splitlines() if not line.startswith("-----")
    ]
    assert key_lines
    for line in key_lines:
        assert line not in wire
    return wire


def _round_trip(client: MqttClient) -> None:
    topic = unique_topic("modemqtt/tls")
    client.subscribe(topic, qos=1)
    client.publish(topic, b"over tls \x00\r\nOK\r\n", qos=1)
    msg = client.wait_message(topic, timeout=10)
    assert msg.payload == b"over tls \x00\r\nOK\r\n"


def test_authmode1_verifies_the_server_and_round_trips(
    modem: Modem, tls_broker: TlsBroker, certs: Certs
) -> None:
    with _client(modem) as client:
        client.connect("localhost", tls_broker.server_auth, tls=Tls(ca_cert=str(certs.ca)))
        _round_trip(client)
        client.disconnect()
    wire = modem.transcript_text()
    assert 'AT+CSSLCFG="authmode",0,1' in wire
    assert re.search(r'AT\+CMQTTACCQ=0,"tls-[0-9a-f]+",1\\r', wire), wire


def test_authmode1_on_an_ip_address(modem: Modem, tls_broker: TlsBroker, certs: Certs) -> None:
    with _client(modem) as client:
        client.connect("127.0.0.1", tls_broker.server_auth, tls=Tls(ca_cert=certs.ca.read_bytes()))
        _round_trip(client)


def test_authmode2_presents_the_client_certificate(
    modem: Modem, tls_broker: TlsBroker, certs: Certs
) -> None:
    wire = _mutual_round_trip(modem, tls_broker, certs)
    assert 'AT+CSSLCFG="authmode",0,2' in wire
    assert "AT+CCERTDOWN" in wire  # the key was uploaded


def test_authmode0_skips_server_verification(modem: Modem, tls_broker: TlsBroker) -> None:
    with _client(modem) as client:
        client.connect("localhost", tls_broker.server_auth, tls=Tls(verify_server=False))
        _round_trip(client)
    assert 'AT+CSSLCFG="authmode",0,0' in modem.transcript_text()


def test_authmode3_client_certificate_without_server_verification(
    modem: Modem, tls_broker: TlsBroker, certs: Certs
) -> None:
    tls = Tls(client_cert=certs.client_cert, client_key=certs.client_key, verify_server=False)
    with _client(modem) as client:
        client.connect("localhost", tls_broker.mutual, tls=tls)
        _round_trip(client)
    assert 'AT+CSSLCFG="authmode",0,3' in modem.transcript_text()


def _connect_error(modem: Modem, host: str, port: int, tls: Tls) -> MqttError:
    with _client(modem) as client:
        with pytest.raises(MqttError) as err:
            client.connect(host, port, tls=tls, timeout=30)
    assert err.value.operation == "connect"
    return err.value


def test_wrong_ca_is_a_handshake_failure(modem: Modem, tls_broker: TlsBroker, certs: Certs) -> None:
    err = _connect_error(modem, "localhost", tls_broker.server_auth, Tls(ca_cert=certs.other_ca))
    assert err.code == 32
    assert err.name == "handshake fail"


def test_missing_client_certificate_is_a_handshake_failure(
    modem: Modem, tls_broker: TlsBroker, certs: Certs
) -> None:
    err = _connect_error(modem, "localhost", tls_broker.mutual, Tls(ca_cert=certs.ca))
    assert err.code == 32


def test_tls_client_against_a_plain_listener_fails_the_handshake(
    modem: Modem, tls_broker: TlsBroker, certs: Certs
) -> None:
    err = _connect_error(modem, "localhost", tls_broker.plain, Tls(ca_cert=certs.ca))
    assert err.code == 32


def test_redirected_host_is_verified_under_its_own_name(
    modem: Modem, vm: VirtualModem, certs: Certs
) -> None:
    # Both names go to the same TLS listener (the virtual modem's broker); only the one the
    # server certificate carries verifies.
    with _client(modem) as client:
        client.connect(SERVER_NAME, 8883, tls=Tls(ca_cert=certs.ca))
        _round_trip(client)
    err = _connect_error(modem, "mqtt.example.org", 8883, Tls(ca_cert=certs.ca))
    assert err.code == 32
    # Without verification the name does not matter.
    with _client(modem) as client:
        client.connect("mqtt.example.org", 8883, tls=Tls(verify_server=False))
        _round_trip(client)


def test_tls_then_plain_on_the_same_index(
    modem: Modem, tls_broker: TlsBroker, certs: Certs
) -> None:
    with _client(modem) as client:
        client.connect("localhost", tls_broker.server_auth, tls=Tls(ca_cert=certs.ca))
        client.disconnect()
        client.connect("127.0.0.1", tls_broker.plain)
        _round_trip(client)


# ----------------------------------------------------------------------------- Quectel QMT


@pytest.fixture(scope="module")
def qmt_vm(tls_broker: TlsBroker) -> Iterator[VirtualModem]:
    url = f"mqtt://127.0.0.1:{tls_broker.server_auth}"
    with VirtualModem("ec20", broker=url, hosts={SERVER_NAME: None}) as v:
        yield v


@pytest.fixture
def qmt_modem(qmt_vm: VirtualModem) -> Iterator[Modem]:
    with Modem(qmt_vm.port, timeout=10.0) as m:
        yield m


def test_qmt_mutual_tls_round_trip(qmt_modem: Modem, tls_broker: TlsBroker, certs: Certs) -> None:
    wire = _mutual_round_trip(qmt_modem, tls_broker, certs)
    assert 'AT+QSSLCFG="seclevel",0,2' in wire
    assert "AT+QFUPL" in wire


def test_qmt_wrong_ca_fails_to_connect(
    qmt_modem: Modem, tls_broker: TlsBroker, certs: Certs
) -> None:
    with _client(qmt_modem) as client:
        with pytest.raises(MqttError) as err:
            client.connect("localhost", tls_broker.server_auth, tls=Tls(ca_cert=certs.other_ca))
    assert err.value.operation == "connect"
    assert not client.is_connected()

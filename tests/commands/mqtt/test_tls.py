"""MQTT over TLS (SPEC §7) against a real `manage.py serve` with a certificate made here: paho
over TLS at QoS 1, hostile bytes on the TLS port disturbing nobody, and certificate or key
paths that do not exist reported in one clear line at start-up."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from data.models import DataPoint
from tests.support import ROOT, ServerProcess, accepts, database_url, free_port, self_signed, serve, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost: it is its own CA for the client."""
    directory = tmp_path_factory.mktemp("tls")
    cert_pem, key_pem = self_signed("plugboard test", ("localhost",))
    paths = Certificate(directory / "cert.pem", directory / "key.pem")
    paths.cert.write_bytes(cert_pem)
    paths.key.write_bytes(key_pem)
    return paths


@dataclass
class TlsServer:
    server: ServerProcess
    tls_port: int

    def alive(self) -> bool:
        return self.server.process.poll() is None


@pytest.fixture
def tls_server(certificate: Certificate, django_db_blocker: Any, tmp_path: Path) -> Iterator[TlsServer]:
    port = free_port()
    server = serve(
        django_db_blocker,
        tmp_path / "server-var",
        tmp_path / "server.log",
        REDIS_URL="",
        MQTT_TLS_PORT=str(port),
        MQTT_TLS_CERT=str(certificate.cert),
        MQTT_TLS_KEY=str(certificate.key),
    )
    # The TLS listener starts with the other side services, once Daphne is up.
    assert wait_for(lambda: accepts(port), timeout=10), server.log.read_text()
    yield TlsServer(server, port)
    server.stop()


class TlsDevice:
    """A paho client over TLS that trusts the test certificate (and checks the host name)."""

    def __init__(self, tls: TlsServer, enrolled: Any, certificate: Certificate) -> None:
        self.connack: list[int] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=enrolled.plug.id, protocol=mqtt.MQTTv311
        )
        self.client.tls_set(ca_certs=str(certificate.cert), cert_reqs=ssl.CERT_REQUIRED)
        self.client.username_pw_set(enrolled.key.id, enrolled.auth)
        self.client.on_connect = lambda c, u, f, reason, p: self.connack.append(reason.value)
        self.client.connect("127.0.0.1", tls.tls_port, keepalive=25)
        self.client.loop_start()
        assert wait_for(lambda: self.connack, timeout=10) == [0], "no CONNACK 0 over TLS"

    def publish_qos1(self, enrolled: Any, prop: str, value: str) -> bool:
        info = self.client.publish(
            f"csipio/data/out/devices/{enrolled.plug.id}/properties/{prop}", value, qos=1
        )
        info.wait_for_publish(timeout=10)
        return info.is_published()  # the PUBACK came

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_paho_over_tls_publishes_at_qos1_and_the_point_is_stored(
    tls_server: TlsServer, certificate: Certificate, thing: Any
) -> None:
    device = TlsDevice(tls_server, thing, certificate)
    try:
        assert device.publish_qos1(thing, "temperature", "21.5")
        # A QoS 1 PUBACK follows the commit: the point is there as soon as the ack is.
        assert DataPoint.objects.get(of=thing.plug.id, channel="temperature").data == 21.5
    finally:
        device.stop()


def _client_hello() -> bytes:
    """The first flight of a real TLS client: its ClientHello record."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    context = ssl.create_default_context()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        while sock.recv(4096):  # a TLS alert may come first
            pass
    except ConnectionResetError:
        pass
    return True


def test_plaintext_and_a_half_handshake_on_the_tls_port_disturb_nobody(
    tls_server: TlsServer, certificate: Certificate, thing: Any, tenant: Any
) -> None:
    other = tenant.plug("neighbour")
    device = TlsDevice(tls_server, thing, certificate)
    hello = _client_hello()
    try:
        with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=5) as half:
            half.sendall(hello[: len(hello) // 2])  # and then nothing: the handshake hangs

            with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=5) as plain:
                # A plaintext MQTT CONNECT (protocol level 4, client id "x") where TLS is expected.
                plain.sendall(b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01x")
                assert _closed_by_server(plain)

            # While the half handshake hangs: the connected client and a new one both work.
            assert device.publish_qos1(thing, "during", "1")
            newcomer = TlsDevice(tls_server, other, certificate)
            try:
                assert newcomer.publish_qos1(other, "during", "2")
            finally:
                newcomer.stop()
            assert tls_server.alive()
        assert device.publish_qos1(thing, "after", "3")
    finally:
        device.stop()
    stored = set(
        DataPoint.objects.filter(channel__in=["during", "after"]).values_list("of", "channel", "data")
    )
    assert stored == {(thing.plug.id, "during", 1), (other.plug.id, "during", 2), (thing.plug.id, "after", 3)}
    assert tls_server.alive()


@pytest.mark.parametrize("missing", ["cert", "key"])
def test_a_certificate_or_key_that_does_not_exist_is_one_clear_line_and_a_failed_start(
    certificate: Certificate, tmp_path: Path, missing: str
) -> None:
    paths = {"cert": str(certificate.cert), "key": str(certificate.key)}
    paths[missing] = str(tmp_path / f"no-such-{missing}.pem")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": "",
        "PLUGBOARD_VAR_DIR": str(tmp_path / "var"),
        "MQTT_TLS_PORT": str(free_port()),
        "MQTT_TLS_CERT": paths["cert"],
        "MQTT_TLS_KEY": paths["key"],
    }
    command = [sys.executable, "manage.py", "serve", "--port", str(free_port())]
    command += ["--mqtt-port", str(free_port()), "--no-expiry"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)  # noqa: S603

    assert result.returncode != 0
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert paths[missing] in errors[0] and "MQTT_TLS_" + missing.upper() in errors[0]

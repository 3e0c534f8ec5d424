"""Helpers shared by tests that drive a real server process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The URL of the database the tests run on, for a server or worker process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; return its value (no timing assertions)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def accepts(port: int) -> bool:
    """Whether something listens on the loopback port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class ServerProcess:
    """A real `manage.py serve` process of the test suite's, on loopback ports."""

    http_port: int
    mqtt_port: int
    process: subprocess.Popen[bytes]
    log: Path
    timings: list[float] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback only
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def timed_http(self, method: str, path: str, **kw: Any) -> tuple[int, Any, float]:
        started = time.monotonic()
        status, body = self.http(method, path, **kw)
        return status, body, time.monotonic() - started

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def serve(
    django_db_blocker: Any,
    var_dir: Path,
    log: Path,
    ports: tuple[int, int] | None = None,
    **env_overrides: str,
) -> ServerProcess:
    """Start `manage.py serve` on the test database (free ports unless `ports` names the
    (HTTP, MQTT) pair, e.g. a killed server's; the suite's SECRET_KEY so digests and encrypted
    secrets agree) and wait until both ports answer."""
    from django.conf import settings

    with django_db_blocker.unblock():
        url = database_url()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PLUGBOARD_VAR_DIR": str(var_dir),
        "SECRET_KEY": settings.SECRET_KEY,
        **env_overrides,
    }
    http_port, mqtt_port = ports or (free_port(), free_port())
    command = [sys.executable, "manage.py", "serve", "--port", str(http_port)]
    command += ["--mqtt-port", str(mqtt_port), "--no-expiry"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    server = ServerProcess(http_port, mqtt_port, process, log)
    started = wait_for(
        lambda: process.poll() is not None or (accepts(http_port) and accepts(mqtt_port)), timeout=60
    )
    if not started or process.poll() is not None:
        server.stop()
        raise RuntimeError(f"server did not start: {log.read_text()}")
    return server


def self_signed(common_name: str, dns_names: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """A self-signed certificate for 127.0.0.1 (and `dns_names`), its own CA: (certificate PEM,
    PKCS#8 key PEM), for the TLS listeners of tests."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem

"""A throwaway platform for one benchmark run: a fresh database and one `manage.py serve`.

`Platform` creates a fresh PostgreSQL database (`pb_bench_<pid>`), migrates it, starts one
`manage.py serve` process on free ports, provisions through the management commands and, on
exit (normal, exception, Ctrl-C or SIGTERM), stops the server and drops the database. The
benchmarks target 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"


class BenchError(RuntimeError):
    pass


class Platform:
    """A fresh database and one `manage.py serve` process; use as a context manager."""

    def __init__(
        self,
        *,
        pg: str = DEFAULT_PG,
        redis: str = DEFAULT_REDIS,
        keep: bool = False,
        tag: str = "",
        server_nofile: int | None = None,
        extra_env: dict[str, str] | None = None,
        settings_overrides: Sequence[str] = (),
        workers: int = 1,
    ) -> None:
        self.workers = workers
        self.pg = pg.rstrip("/")
        self.redis = redis
        self.keep = keep
        self.db_name = f"pb_bench_{os.getpid()}{('_' + tag) if tag else ''}"
        self.database_url = f"{self.pg}/{self.db_name}"
        self.var_dir = Path(tempfile.mkdtemp(prefix=f"pb_bench_{os.getpid()}_"))
        self.http_port = free_port()
        self.mqtt_port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.server_nofile = server_nofile
        self.extra_env = extra_env or {}
        self.log_path = self.var_dir / "serve.log"
        self._db_created = False
        self.settings_overrides = list(settings_overrides)
        if self.settings_overrides:
            # An experiment: the project's settings plus a few lines, from outside the repository.
            (self.var_dir / "bench_settings.py").write_text(
                "from plugboard.settings import *  # noqa: F403\n" + "\n".join(self.settings_overrides) + "\n"
            )
            self.extra_env = {
                **self.extra_env,
                "DJANGO_SETTINGS_MODULE": "bench_settings",
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(self.var_dir), os.environ.get("PYTHONPATH")])
                ),
            }
            print("EXPERIMENT — server settings changed for this run: " + "; ".join(self.settings_overrides))

    # environment of every manage.py call
    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis,
            SECRET_KEY="bench",
            PLUGBOARD_VAR_DIR=str(self.var_dir),
            LOG_LEVEL=env.get("LOG_LEVEL", "WARNING"),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # -- lifecycle --

    def __enter__(self) -> Platform:
        self._install_signal_handlers()
        try:
            self.create_database()
            self.manage("migrate", "--noinput", "-v", "0", parse=False)
            self.start_server()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _install_signal_handlers(self) -> None:
        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, stop)

    def admin_connect(self) -> Any:
        import psycopg

        return psycopg.connect(f"{self.pg}/postgres", autocommit=True)

    def connect(self, **kwargs: Any) -> Any:
        """A psycopg connection to the bench database."""
        import psycopg

        return psycopg.connect(self.database_url, **kwargs)

    def create_database(self) -> None:
        with self.admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self._db_created = True

    def drop_database(self) -> None:
        if not self._db_created:
            return
        with self.admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        self._db_created = False

    def start_server(self) -> None:
        nofile = self.server_nofile

        def preexec() -> None:
            os.setpgrp()  # its own process group: a Ctrl-C of the bench reaches it only through us
            if nofile:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))

        log = open(self.log_path, "wb")  # noqa: SIM115 - the server owns it until it exits
        self.server = subprocess.Popen(
            [
                str(VENV_PYTHON),
                "manage.py",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.http_port),
                "--mqtt-port",
                str(self.mqtt_port),
                "--no-expiry",
                "--workers",
                str(self.workers),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise BenchError(f"the server exited with {self.server.returncode}:\n{self.log_tail()}")
            if port_open(self.http_port) and port_open(self.mqtt_port):
                return
            time.sleep(0.1)
        raise BenchError(f"the server did not open its ports within 60 s:\n{self.log_tail()}")

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        self.server.send_signal(signal.SIGINT)
        try:
            self.server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait(timeout=10)

    def close(self) -> None:
        try:
            self.stop_server()
        finally:
            if self.keep:
                print(f"kept: database {self.database_url}, server log {self.log_path}")
            else:
                try:
                    self.drop_database()
                finally:
                    shutil.rmtree(self.var_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def check_alive(self) -> None:
        if self.server is None or self.server.poll() is not None:
            raise BenchError(f"the server died during the run:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.pid

    # -- provisioning --

    def manage(self, *args: str, parse: bool = True) -> Any:
        done = subprocess.run(
            [str(VENV_PYTHON), "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise BenchError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1]) if parse else done.stdout

    def django_script(self, code: str, timeout: float = 600) -> Any:
        """Run Python with Django set up against the bench database; its last stdout line is JSON."""
        prelude = (
            "import os, sys, json\n"
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'plugboard.settings')\n"
            "import django\ndjango.setup()\n"
        )
        done = subprocess.run(
            [str(VENV_PYTHON), "-c", prelude + code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise BenchError(f"Django script failed:\n{done.stdout}{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def account(self, email: str = "bench@example.com", password: str = "bench-pass-1") -> dict[str, Any]:
        created = self.manage("createaccount", "--email", email, "--password", password)
        return {**created, "password": password}

    def plug(self, account_email: str, name: str, kind: str = "thing") -> dict[str, Any]:
        return self.manage("createplug", "--account", account_email, "--name", name, "--kind", kind)

    def plugs_bulk(self, account_email: str, prefix: str, count: int) -> list[dict[str, Any]]:
        """`count` plugs through `devices.services.plugs.plug_create` (what `createplug` calls) in one
        Django process: starting `manage.py createplug` once per plug costs about a second each."""
        code = f"""
from django.db import transaction
from devices.services.plugs import plug_create
from plugboard.models import Account
account = Account.objects.get(email__iexact={account_email!r})
out = []
for start in range(0, {int(count)}, 1000):
    with transaction.atomic():  # one commit per thousand plugs, not two per plug
        for i in range(start, min(start + 1000, {int(count)})):
            e = plug_create(account=account, name=f"{prefix}{{i:05d}}")
            out.append({{"id": e.plug.id, "name": e.plug.name, "auth": e.auth, "key_id": e.key.id}})
print(json.dumps(out))
"""
        return list(self.django_script(code, timeout=1800))


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards `wanted` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]

"""The edge holds (issue 24 item 4), over real sockets against a real `manage.py serve`.

Bodies: the limit applied before a body is read (by `Content-Length`, and to a chunked body as
it arrives), chunked bodies within it parsed, on both dialects. Browsers: no credential
challenge a browser would answer, and a page of another site posting forms to the API (in
Chromium, with the user's API credentials in the browser) writes nothing. Failures: a valid key
at an address where someone hammers passwords, made-up emails and its own id keeps working over
HTTP and MQTT. WebSocket: an upgrade to a path no route serves is a clean 403. Pages: the
console, the admin and the API docs work in Chromium under a strict Content-Security-Policy,
without one violation.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from data.models import DataPoint
from tests.conftest import Tenant
from tests.support import ServerProcess, serve, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 64 * 1024  # the servers' PLUGBOARD_MAX_BODY here


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server for the module (each test's rows are its own: new plugs, new channels)."""
    folder = tmp_path_factory.mktemp("edge")
    process = serve(
        django_db_blocker, folder / "var", folder / "server.log", REDIS_URL="", PLUGBOARD_MAX_BODY=str(LIMIT)
    )
    process.http("GET", "/warm-up", timeout=60)  # the first request loads the URL conf and the views
    yield process
    process.stop()


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP answer (status, lower-cased headers, body by its Content-Length)."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {raw!r}"
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the answer's body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def _closed(sock: socket.socket) -> bool:
    """Whether the server ended the connection (end of stream or reset), reading what is left."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/iot/data/big", {"err", "msg"}), ("/v3/data/devices/_this_", {"code", "cause", "message"})],
)
@pytest.mark.parametrize("expect_continue", [False, True])
def test_a_content_length_over_the_limit_is_refused_before_the_body_is_sent(
    server: ServerProcess, path: str, shape: set[str], expect_continue: bool
) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": str(200 * 1024 * 1024)}
    if expect_continue:
        headers["Expect"] = "100-continue"
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(_head("PUT", path, headers))  # and not one byte of the 200 MB body
        status, answer_headers, body = _read_answer(sock)
        assert _closed(sock)

    assert status == 413  # not "100 Continue": nothing invites the body
    assert answer_headers["content-type"] == "application/json"
    assert answer_headers["connection"] == "close"
    error = json.loads(body)
    error = error[0] if isinstance(error, list) else error
    assert set(error) == shape
    assert 413 in error.values()


def test_a_chunked_body_is_stopped_at_the_limit_with_memory_bounded(server: ServerProcess) -> None:
    before = _rss_kb(server.process.pid)
    piece = b"x" * 65536
    frame = b"%x\r\n%s\r\n" % (len(piece), piece)
    sent = 0
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        sock.sendall(_head("PUT", "/iot/data/big", headers))
        try:
            while sent < 100 * 1024 * 1024:  # 100 MB offered; the server stops reading long before
                sock.sendall(frame)
                sent += len(frame)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            status, _, body = _read_answer(sock)
        except ConnectionResetError:  # the answer was sent and read before the client's last write
            pytest.fail("the 413 was lost to a reset")
        assert _closed(sock)

    assert status == 413, body
    assert json.loads(body)["err"] == 413
    assert sent < 1024**3  # the server cut the connection
    assert _rss_kb(server.process.pid) - before < 32 * 1024  # kB: what was sent was not kept


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("PUT", "/iot/data/chunked", b'{"data": 21.5}'),
        ("POST", "/v3/data/devices/_this_", b'{"chunked": 21.5}'),
    ],
)
def test_a_chunked_body_within_the_limit_is_parsed(
    server: ServerProcess, tenant: Tenant, method: str, path: str, payload: bytes
) -> None:
    thing = tenant.plug("chunky")
    headers = {
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
        "X-Plug-Id": thing.plug.id,
        "X-Plug-Auth": thing.auth,
    }
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        # Two chunks, the way a streaming client frames a body it has not measured.
        half = len(payload) // 2
        sock.sendall(_head(method, path, headers) + b"%x\r\n%s\r\n" % (half, payload[:half]))
        time.sleep(0.05)  # not a timing assertion: the second chunk arrives in a later read
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload) - half, payload[half:]))
        status, _, body = _read_answer(sock)

    assert status == 200, body
    point = wait_for(lambda: DataPoint.objects.filter(of=thing.plug.id).first())
    assert point is not None and point.data == 21.5


def test_an_answer_within_the_limit_keeps_the_connection(server: ServerProcess, tenant: Tenant) -> None:
    # The guard leaves ordinary requests alone: two requests over one connection.
    thing = tenant.plug("steady")
    headers = {"Content-Type": "application/json", "X-Plug-Id": thing.plug.id, "X-Plug-Auth": thing.auth}
    payload = b'{"data": 1}'
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(
                _head("PUT", "/iot/data/kept", {**headers, "Content-Length": str(len(payload))}) + payload
            )
            status, _, body = _read_answer(sock)
            assert status == 200, body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/iot/data", {"err": 401, "msg": "authentication required"}),
        ("/v3/devices", [{"code": 401, "cause": "Unauthorized", "message": "authentication required"}]),
    ],
)
def test_a_401_challenges_no_browser_to_keep_credentials(server: ServerProcess, path: str, body: Any) -> None:
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(_head("GET", path, {"Connection": "close"}))
        status, headers, raw = _read_answer(sock)

    assert status == 401
    # A scheme is named (HTTP requires one), but not Basic: a browser would prompt for it and then
    # send it with every request to this origin, forged ones from other sites' pages included.
    assert headers["www-authenticate"] == 'Plug realm="plugboard"'
    assert json.loads(raw) == body


FORGERY = """<!doctype html><html><body onload="document.forms[0].submit()">
<form method="post" action="{action}" enctype="{enctype}">
<input name='{{"setpoint": 99, "x": "' value='"}}'></form></body></html>"""


@pytest.mark.parametrize("enctype", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_page_on_another_site_cannot_write_through_the_browser(
    server: ServerProcess, browser: Any, tenant: Tenant, enctype: str
) -> None:
    from commands.models import Command
    from devices.models import Property

    thing = tenant.plug(f"valve-{enctype.split('/')[1][:5]}")
    Property.objects.create(plug=thing.plug, name="setpoint", type="number", access="public")
    action = f"{server.base}/v3/data/devices/{thing.plug.id}"
    # The user has given the browser the account's API credentials (what a Basic prompt keeps).
    context = browser.new_context(http_credentials={"username": tenant.email, "password": tenant.password})
    page = context.new_page()
    page.route(
        "http://attacker.test/**",
        lambda route: route.fulfill(
            content_type="text/html", body=FORGERY.format(action=action, enctype=enctype)
        ),
    )
    try:
        with page.expect_response(lambda r: r.url == action) as answered:
            page.goto("http://attacker.test/")
        answer = answered.value
        challenge = answer.headers.get("www-authenticate", "")
    finally:
        context.close()

    assert answer.status == 415  # a form's type: refused before credentials are even read
    assert not challenge.lower().startswith("basic")
    assert not Command.objects.filter(plug=thing.plug).exists()
    assert not DataPoint.objects.filter(of=thing.plug.id).exists()
    # The same write, as a client sends it, is a command: the forged one was refused, not lost.
    status, receipt = server.http(
        "POST",
        f"/v3/data/devices/{thing.plug.id}",
        {"setpoint": 99},
        headers=_basic_of(tenant.email, tenant.password),
    )
    assert (status, receipt) == (200, {"accepted": 1, "rejected": 0})
    assert wait_for(lambda: Command.objects.filter(plug=thing.plug).exists())


def test_a_browser_holding_api_credentials_is_never_asked_for_them(
    server: ServerProcess, browser: Any, tenant: Tenant
) -> None:
    # With a Basic challenge Chromium answered with the credentials it held, and from then on
    # any site's page could make it send them (here: a 200 with the account's devices).
    context = browser.new_context(http_credentials={"username": tenant.email, "password": tenant.password})
    try:
        answer = context.new_page().goto(f"{server.base}/v3/devices")
        status, body = answer.status, answer.json()
    finally:
        context.close()

    assert status == 401
    assert body == [{"code": 401, "cause": "Unauthorized", "message": "authentication required"}]


def test_a_valid_key_keeps_working_while_its_address_hammers_passwords(
    start_server: Callable[..., ServerProcess], tenant: Tenant
) -> None:
    from commands.mqtt.protocol.packets import encode_connect, encode_publish

    server = start_server(PLUGBOARD_AUTH_FAILURES_PER_MINUTE="5", PLUGBOARD_ADDRESS_FAILURES_PER_MINUTE="30")
    neighbour = tenant.plug("neighbour")
    user_key, user_secret = tenant.user_key()
    # The attacker, at the neighbour's address (a NAT): the account's password guessed, made-up
    # emails, and wrong secrets for the neighbour's own plug id, each past its budget.
    guesses = [
        server.http("GET", "/iot/data", headers=_basic_of(tenant.email, f"guess{n}"))[0] for n in range(8)
    ]
    emails = [
        server.http("GET", "/iot/data", headers=_basic_of(f"x{n}@example.com", "pw"))[0] for n in range(30)
    ]
    wrong_key = {"X-Plug-Id": neighbour.plug.id, "X-Plug-Auth": "0" * 32}
    keys = [server.http("GET", "/iot/data", headers=wrong_key)[0] for _ in range(8)]
    assert guesses == [401] * 5 + [429] * 3
    assert set(emails[-5:]) == {429}  # the address's ceiling for passwords is reached
    assert keys == [401] * 5 + [429] * 3
    # Passwords from there wait, the right one too…
    assert server.http("GET", "/iot/data", headers=_basic_of(tenant.email, tenant.password))[0] == 429

    # …keys never do: the plug's auth and a user key over HTTP…
    plug_auth = {"X-Plug-Id": neighbour.plug.id, "X-Plug-Auth": neighbour.auth}
    assert server.http("PUT", "/iot/data/nat/temp", {"data": 20}, headers=plug_auth)[0] == 200
    assert server.http("GET", "/v3/devices", headers=_basic_of(user_key, user_secret))[0] == 200
    # …and the device key over MQTT (CONNACK 0, then a QoS 1 publish acknowledged).
    with socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=10) as sock:
        connect = encode_connect(
            neighbour.plug.id, username=neighbour.key.id, password=neighbour.auth.encode()
        )
        sock.sendall(connect)
        assert sock.recv(4) == b"\x20\x02\x00\x00"
        topic = f"csipio/data/out/devices/{neighbour.plug.id}/properties/humidity"
        sock.sendall(encode_publish(topic, b"40", qos=1, packet_id=7))
        assert sock.recv(4) == b"\x40\x02\x00\x07"
    assert wait_for(lambda: DataPoint.objects.filter(of=neighbour.plug.id).count() == 2)


def _basic_of(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


@pytest.mark.parametrize("path", ["/nowhere", "/mqtt/extra", "/console/live/a/b", "/iot/data"])
def test_an_unrouted_websocket_upgrade_is_refused_cleanly(server: ServerProcess, path: str) -> None:
    errors_before = _error_lines(server)
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
        "Sec-WebSocket-Version": "13",
    }
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(_head("GET", path, upgrade))
        status, _, _ = _read_answer(sock)
        assert _closed(sock)

    assert status == 403  # not 500, and no traceback in the log
    assert _error_lines(server) == errors_before


def _error_lines(server: ServerProcess) -> list[str]:
    lines = server.log.read_text().splitlines()
    return [line for line in lines if '"level": "error"' in line or "Traceback" in line]


def test_the_pages_work_under_a_strict_content_security_policy(
    server: ServerProcess, browser: Any, tenant: Tenant
) -> None:
    from django.contrib.auth.models import User
    from playwright.sync_api import expect

    tenant.plug("lamp")
    User.objects.create_superuser("root", "root@example.com", "root-password")
    context = browser.new_context()
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
    try:
        policies = {}
        for path in ("/", "/console/sign-in/", "/admin/login/", "/api/docs/"):
            policies[path] = page.goto(server.base + path).headers.get("content-security-policy")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text(
            "Plugboard API", timeout=60_000
        )  # its script ran
        page.goto(server.base + "/console/sign-in/")
        page.get_by_label("Email").fill(tenant.email)
        page.get_by_label("Password").fill(tenant.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/")
        expect(page.locator("body")).to_have_attribute("data-live-state", "open")  # its WebSocket too
        page.goto(server.base + "/console/plugs/")
        expect(page.get_by_role("link", name="lamp")).to_be_visible()
        page.goto(server.base + "/admin/login/")
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill("root-password")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/admin/")
        page.goto(server.base + "/admin/auth/user/")
        page.locator("#action-toggle").check()  # the admin's own script (actions.js) runs
        expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
    finally:
        context.close()

    for path, policy in policies.items():
        assert policy is not None and "default-src 'self'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
    # (Chromium's own /favicon.ico request, a 404 for the pages without an icon link, is the one
    # error it may log.)
    favicon = "error: Failed to load resource: the server responded with a status of 404 (Not Found)"
    refused = [m for m in messages if "Content Security Policy" in m or m.startswith(("error", "pageerror"))]
    assert [m for m in refused if m != favicon] == []

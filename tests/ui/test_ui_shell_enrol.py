"""Enrolment screen against a real gateway: success, wrong code, unreachable gateway and a
TLS certificate that cannot be verified — each with its own message and nothing stored."""
import http.server
import socket
import ssl
import subprocess
import threading

import pytest


def _enter(ui, url, code):
    ui.wait_screen("enrol")
    ui.find("url").text = ""
    ui.tap("url")
    ui.type(url)
    ui.find("code").text = ""
    ui.tap("code")
    ui.type(code)
    ui.tap("enrol_button")


def test_enrol_success_fetches_reference_and_goes_to_login(gateway, make_ui):
    ui = make_ui(gateway=gateway)
    ui.wait_screen("enrol")
    ui.shot("enrol-empty")
    _enter(ui, gateway.url, "DEMO-ENROL")
    ui.wait_screen("login", timeout=30)
    ui.shot("enrolled-login")
    device_id = ui.store.get_meta("device_id")
    assert device_id and ui.store.get_meta("device_token")
    operators = {r[0] for r in ui.store.conn.execute("SELECT operator_id FROM operators")}
    assert {"1001", "2001", "9001"} <= operators
    assert ui.store.conn.execute("SELECT COUNT(*) FROM receipt_blocks").fetchone()[0] >= 1
    held = gateway.query("SELECT device_id FROM devices")
    assert device_id in {r["device_id"] for r in held}


def test_enrol_wrong_code_says_so_and_stores_nothing(gateway, make_ui):
    ui = make_ui(gateway=gateway)
    _enter(ui, gateway.url, "NOT-A-CODE")
    screen = ui.screen
    ui.wait_for(lambda: screen.message_kind, 20, "an error")
    ui.shot("wrong-code")
    assert screen.message_kind == "wrong_code"
    assert "登记码" in screen.message          # shown in Chinese (the default language)
    assert ui.app.sm.current == "enrol"
    assert ui.store.get_meta("device_token") is None
    assert gateway.query("SELECT COUNT(*) AS n FROM devices")[0]["n"] == 0


def test_enrol_unreachable_gateway(make_ui):
    # a port held bound but not listening for the whole test: connections are refused, and
    # nothing else can take the port meanwhile
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        ui = make_ui(language="en")
        _enter(ui, f"http://127.0.0.1:{port}", "DEMO-ENROL")
        screen = ui.screen
        ui.wait_for(lambda: screen.message_kind, 20, "an error")
    ui.shot("unreachable")
    assert screen.message_kind == "unreachable"
    assert "Cannot reach the gateway" in screen.message
    assert ui.store.get_meta("device_token") is None


@pytest.fixture
def tls_server(tmp_path):
    """A real HTTPS server on loopback with a self-signed certificate the client does not trust."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_enrol_certificate_problem(tls_server, make_ui):
    ui = make_ui(language="en")
    _enter(ui, tls_server, "DEMO-ENROL")
    screen = ui.screen
    ui.wait_for(lambda: screen.message_kind, 20, "an error")
    ui.shot("certificate")
    assert screen.message_kind == "certificate"
    assert "certificate" in screen.message
    assert ui.store.get_meta("device_token") is None

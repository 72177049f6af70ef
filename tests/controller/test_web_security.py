"""The dashboard on a shared lab network: body limits before authentication, security headers
on every response, the Host allow-list, a validated Last-Event-ID, the report rendered once
per campaign state, no store path in 404s, `sdl serve` stopping on the first signal while a
stream is open, and optional TLS."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from controller.config.campaign import config_from_dict
from controller.records.store import RecordStore
from controller.ui.cli import main
from controller.ui.web.app import BackgroundServer, create_app
from controller.ui.web.events import resume_from

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "thermoset_dryrun.toml"
TOKEN = "security-test-token-0123"
BIG = 200 * 1024  # bytes: past the 64 KiB limit


def campaign_store(path, name="sec"):
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name=name, budget=100)
    raw["control"] = {"approval": ["robot"], "token": TOKEN}
    cfg = config_from_dict(raw)
    store = RecordStore(path)
    store.open_campaign(cfg.name, cfg.fingerprint, cfg.to_json(), cfg.budget)
    return store


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    path = tmp_path_factory.mktemp("sec") / "records.sqlite"
    store = campaign_store(path)
    with BackgroundServer(path) as server:
        yield server, store, path
    store.close()


def chunks():
    for _ in range(BIG // 8192):
        yield b"x" * 8192


def no_path(path):
    return lambda r: str(path.parent) not in r.text and "sqlite" not in r.text


CASES = [
    # id, method, url, request kwargs, status, extra check(response, store path)
    pytest.param("POST", "/api/campaigns/sec/control", {"content": b"{" + b" " * BIG + b"}",
                 "headers": {"Content-Type": "application/json"}}, 413, None, id="body-200KB-content-length"),
    pytest.param("POST", "/api/campaigns/sec/control", {"content": chunks(), "headers": {"Content-Type": "application/json"}},
                 413, None, id="body-200KB-chunked"),
    pytest.param("POST", "/api/campaigns/sec/control", {"json": {"action": "pause", "operator": "Ada"}}, 401, None,
                 id="small-body-reaches-auth"),
    pytest.param("GET", "/api/campaigns", {"headers": {"Host": "evil.example"}}, 400, None, id="host-evil.example"),
    pytest.param("GET", "/api/campaigns", {"headers": {"Host": "evil.example:8765"}}, 400, None, id="host-evil-with-port"),
    pytest.param("GET", "/api/campaigns", {"headers": {"Host": "localhost:1234"}}, 200, None, id="host-localhost"),
    pytest.param("GET", "/", {}, 200, None, id="page"),
    pytest.param("GET", "/static/app.js", {}, 200, None, id="static"),
    pytest.param("GET", "/api/campaigns/nope", {}, 404, "no-path", id="404-campaign-without-store-path"),
    pytest.param("GET", "/api/samples/nope-0001", {}, 404, "no-path", id="404-sample-without-store-path"),
    pytest.param("GET", "/api/campaigns/nope/events", {}, 404, "no-path", id="404-events-without-store-path"),
]


@pytest.mark.parametrize("method, url, kwargs, status, check", CASES)
def test_limits_and_headers(served, method, url, kwargs, status, check):
    server, _, path = served
    r = httpx.request(method, server.url + url, timeout=10, **kwargs)
    assert r.status_code == status, r.text[:300]
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    if check == "no-path":
        assert str(path) not in r.text and str(path.parent) not in r.text and "nope" in r.json()["detail"]


def test_index_has_no_inline_script_or_handlers():
    html = (ROOT / "controller" / "ui" / "web" / "static" / "index.html").read_text()
    assert "<script>" not in html and " on" not in html.replace("content", "") and "style=" not in html
    for name in ("app.js", "charts.js"):
        source = (ROOT / "controller" / "ui" / "web" / "static" / name).read_text()
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("//"))
        assert "innerHTML" not in code and "insertAdjacentHTML" not in code and "outerHTML" not in code, name


@pytest.mark.parametrize("header, expected", [
    pytest.param("42", 42, id="digits"),
    pytest.param("9" * 18, int("9" * 18), id="18-digits"),
    pytest.param("1" * 30, None, id="30-digits"),
    pytest.param("garbage", None, id="garbage"),
    pytest.param("-5", None, id="negative"),
    pytest.param("١٢", None, id="non-ascii-digits"),
    pytest.param("", None, id="empty"),
])
def test_last_event_id_is_validated(header, expected):
    assert resume_from(header) == expected


@pytest.mark.parametrize("last_event_id", ["1" * 30, "garbage", "١٢"], ids=["30-digits", "garbage", "non-ascii-digits"])
def test_bad_last_event_id_gives_a_working_stream(served, last_event_id):
    server, store, _ = served
    got, status = [], {}

    def listen():
        with httpx.stream("GET", f"{server.url}/api/campaigns/sec/events", timeout=10,
                          headers={"Last-Event-ID": last_event_id.encode("utf-8")}) as response:
            status["code"] = response.status_code
            for line in response.iter_lines():
                if line.startswith("data:") and "probe" in line:
                    got.append(line)
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    time.sleep(0.5)
    store.log_event("sec", "probe", {"header": last_event_id})
    thread.join(10)
    assert status.get("code") == 200 and got and '"kind": "probe"' in got[0]


def test_report_is_rendered_once_per_campaign_state(tmp_path, monkeypatch):
    import controller.ui.htmlreport as htmlreport

    store = campaign_store(tmp_path / "s.sqlite")
    renders = []

    def counting(records, name):
        renders.append(name)
        return f"<html><body>report {len(renders)}</body></html>"

    monkeypatch.setattr(htmlreport, "render_report", counting)
    client = TestClient(create_app(store), base_url="http://localhost")
    first = [client.get("/api/campaigns/sec/report") for _ in range(5)]
    assert all(r.status_code == 200 and r.text == first[0].text for r in first) and len(renders) == 1
    report_csp = first[0].headers["content-security-policy"]
    assert "script" not in report_csp.replace("default-src 'none'", "") and "frame-ancestors 'none'" in report_csp
    store.log_event("sec", "campaign_paused", {"operator": "Ada"})  # the campaign's state changed
    assert client.get("/api/campaigns/sec/report").text == "<html><body>report 2</body></html>" and len(renders) == 2
    client.get("/api/campaigns/sec/report")
    assert len(renders) == 2


def test_the_report_file_escapes_names_and_forbids_script(tmp_path):
    from controller.ui.htmlreport import render_report

    store = campaign_store(tmp_path / "s.sqlite")
    store.log_event("sec", "recommendation", {"recommendation": {
        "mean": 1.0, "std": 0.1, "unit": "<b>degC</b>", "property": "<script>alert(1)</script>", "fidelity": "robot",
        "model_id": "<img src=x onerror=alert(2)>", "recipe": {"<svg onload=alert(3)>": {"value": 1.0, "unit": "degC"}}}})
    html = render_report(store, "sec")
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "&lt;script&gt;alert(1)" in html and "&lt;svg onload=alert(3)&gt;" in html
    assert "http-equiv='Content-Security-Policy'" in html and "script-src" not in html.split("<title>")[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(path, port, *extra, env=None):
    environment = {**os.environ, **(env or {})}
    environment.pop("SDL_CONTROL_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "controller.ui.cli", "serve", "--store", str(path), "--port", str(port), *extra],
                            cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_listening(url, proc, timeout=60.0, **kwargs):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"sdl serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            return httpx.get(url, timeout=2, **kwargs)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"sdl serve did not answer on {url}")


def test_serve_stops_on_the_first_sigint_with_a_stream_open_and_warns_off_loopback(tmp_path):
    path = tmp_path / "s.sqlite"
    campaign_store(path).close()
    port = free_port()
    proc = start_serve(path, port, "--host", "0.0.0.0")
    try:
        assert wait_listening(f"http://127.0.0.1:{port}/api/campaigns", proc).status_code == 200
        opened = threading.Event()

        def hold_stream():
            try:
                with httpx.stream("GET", f"http://127.0.0.1:{port}/api/campaigns/sec/events", timeout=30) as response:
                    opened.set()
                    for _ in response.iter_lines():
                        pass
            except httpx.HTTPError:
                pass

        threading.Thread(target=hold_stream, daemon=True).start()
        assert opened.wait(10)
        time.sleep(0.3)
        sent = time.time()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=8)
        assert time.time() - sent < 6, "sdl serve took too long to stop"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "0.0.0.0" in warning[0] and "in clear" in warning[0], err


@pytest.mark.parametrize("argv, field", [
    pytest.param(["--tls-cert", "missing.pem", "--tls-key", "missing.key"], "--tls-cert", id="cert-missing"),
    pytest.param(["--tls-cert", "missing.pem"], "--tls-key", id="key-not-given"),
    pytest.param(["--port", "70000"], "--port", id="port-out-of-range"),
])
def test_serve_bad_options_exit_2(tmp_path, capsys, monkeypatch, argv, field):
    monkeypatch.delenv("SDL_CONTROL_TOKEN", raising=False)
    path = tmp_path / "s.sqlite"
    RecordStore(path).close()
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--store", str(path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err, err


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost: with `cryptography` if installed, else openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        import shutil

        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor openssl is installed")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
                       check=True, capture_output=True)
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


def test_serve_over_tls(tmp_path):
    cert, key = self_signed(tmp_path)
    path = tmp_path / "s.sqlite"
    campaign_store(path).close()
    port = free_port()
    proc = start_serve(path, port, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        r = wait_listening(f"https://127.0.0.1:{port}/api/campaigns", proc, verify=False)
        assert r.status_code == 200 and r.json()[0]["name"] == "sec"
        with pytest.raises(httpx.HTTPError):  # plain HTTP is not served on that port
            httpx.get(f"http://127.0.0.1:{port}/api/campaigns", timeout=5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "https://" in proc.stdout.read()

"""A real Gatehouse (the repository's binary, SQLite, development mode) for the package's suite,
started once per session; the suite imports `gatehouse` from the installed wheel, never from the
source folder (sdk/python/run builds and installs it into a fresh virtualenv first)."""

import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

ROOT = Path(os.environ.get("SDK_TEST_SOURCE", Path(__file__).resolve().parents[1])).parents[1]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"
PASSWORD = "a long and unusual passphrase"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`gatehouse serve` on a port of its own; stop() and start() keep its database."""

    def __init__(self, workdir: Path, binding: str = "user_agent"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        config = workdir / "gatehouse.toml"
        config.write_text(
            f'public_url = "{self.url}"\n'
            f'[server]\nlisten = "127.0.0.1:{self.port}"\ntrusted_proxies = ["127.0.0.1/32"]\n'
            f'redirect_allowlist = ["http://testserver/"]\n'
            f'[database]\nurl = "sqlite://{workdir / "gatehouse.db"}"\n'
            f'[session]\nbinding = "{binding}"\n'
            "[password]\nargon2_memory_kib = 1024\nargon2_iterations = 1\n"
            "[rate_limit]\nenabled = false\n"
            "[jobs]\npoll_interval_ms = 50\n"
        )
        self.env = {**os.environ, "GATEHOUSE_CONFIG": str(config), "NO_COLOR": "1"}
        self.binary = os.environ.get("SDK_TEST_BINARY", str(ROOT / "target/debug/gatehouse"))
        self.process = None
        self.start()

    def start(self):
        log = open(self.workdir / "server.log", "a")
        self.process = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"gatehouse did not start; see {self.workdir / 'server.log'}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)

    def run(self, *args):
        return subprocess.run([self.binary, *args], env=self.env, check=True, capture_output=True, text=True).stdout

    def service_key(self, *scopes):
        args = ["api-key", "create", "--name", "sdk-tests"]
        for scope in scopes:
            args += ["--scope", scope]
        return self.run(*args).split()[0]


@pytest.fixture(scope="session")
def server():
    workdir = Path(tempfile.mkdtemp(prefix="gatehouse-sdk-python-"))
    server = Server(workdir)
    yield server
    server.stop()


class Person:
    """Someone signed up through Gatehouse from a browser: their cookie header and CSRF token."""

    def __init__(self, server, email):
        self.email = email
        self.http = httpx.Client(base_url=server.url, headers={"User-Agent": BROWSER})
        signed = self.http.post("/v1/signup", json={"email": email, "password": PASSWORD})
        assert signed.status_code == 201, signed.text
        self.user_id = signed.json()["user"]["id"]
        self.session_id = signed.json()["session"]["id"]
        self.cookie = f"gatehouse_session={self.http.cookies['gatehouse_session']}"
        self.csrf = self.http.get("/v1/csrf").json()["token"]
        # Every cookie the browser holds (session and CSRF), as its Cookie header.
        self.cookies = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())
        self.origin = server.url

    def post(self, path, body=None):
        headers = {"Origin": self.origin, "X-CSRF-Token": self.csrf}
        return self.http.post(path, json=body or {}, headers=headers)

    def access_token(self):
        answer = self.post("/v1/token")
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


_people = iter(range(1_000_000))


def new_person(server, tag="user"):
    return Person(server, f"{tag}-{next(_people)}-{os.getpid()}@example.com")


@pytest.fixture
def person(server):
    def make(tag="user"):
        return new_person(server, tag)

    make.__wrapped__ = new_person
    return make


class Receiver:
    """A webhook receiver: records each delivery's body and headers."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((body, dict(self.headers)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/hooks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, event_type, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body, headers in list(self.received):
                if json.loads(body)["type"] == event_type:
                    return body, headers
            time.sleep(0.05)
        raise AssertionError(f"no {event_type} delivery")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()

"""The browser suite's peers: a real Gatehouse binary (SQLite, or PostgreSQL with Redis), the
oidc-provider test peer from the Rust suite, and a tiny "app" on another origin that return_to
points at. Each is started once per backend, not once per test."""

import html
import json
import hashlib
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OIDC_PEER = ROOT / "crates/gatehouse/tests/it/support/oidc-provider"
# A password the test breach corpus lists: signup refuses it.
BREACHED = "correct horse battery staple"

# Low per-account login limit so the flood story meets it quickly; per-IP limits high, since every
# story signs in from 127.0.0.1.
POLICIES = (
    "login_account = { limit = 4, period_secs = 600, burst = 4, key = [\"account\"] }, "
    + ", ".join(
        f"{name} = {{ limit = 10000, period_secs = 60 }}"
        for name in ["signup_ip", "login_ip", "password_reset_ip", "magic_link_ip", "verification_ip", "oauth_ip"]
    )
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """The app a person is sent back to: any page it serves says where the browser landed."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                # Behind the proxy, forward-auth tells the app who is signed in.
                who = html.escape(self.headers.get("Remote-Email") or "")
                body = (
                    f"<!doctype html><title>The app</title><h1>The app</h1><p id=path>{html.escape(self.path)}</p>"
                    f"<p id=user>{who}</p>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


class OidcProvider:
    def __init__(self, redirect_uri):
        self.process = subprocess.Popen(
            ["node", "provider.mjs", json.dumps({"redirect_uris": [redirect_uri]})],
            cwd=OIDC_PEER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("oidc-provider did not start; run `npm install` in " + str(OIDC_PEER))
        self.issuer = json.loads(line)["issuer"]
        # Its output is drained so a full pipe never blocks it.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


class Caddy:
    """Caddy in front of the app, asking Gatehouse (forward-auth) with the documented Caddyfile."""

    def __init__(self, gatehouse_addr, app_addr, workdir):
        self.port = free_port()
        self.base = f"http://localhost:{self.port}"
        config = (ROOT / "docs/forward-auth/Caddyfile").read_text()
        config = config.replace("127.0.0.1:8080", gatehouse_addr).replace("127.0.0.1:3000", app_addr)
        config = config.replace("http://:8000", f"http://:{self.port}")
        path = workdir / "Caddyfile"
        path.write_text(config)
        home = workdir / "caddy-home"
        env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config")}
        self.log = open(workdir / "caddy.log", "w")
        self.process = subprocess.Popen(["caddy", "run", "--config", str(path), "--adapter", "caddyfile"],
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Caddy did not start; see {workdir / 'caddy.log'}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


class Gatehouse:
    def __init__(self, binary, workdir, database_url, redis_url, app_base):
        self.port = free_port()
        # localhost, not 127.0.0.1: browsers refuse passkeys at an IP address (and treat
        # http://localhost as a secure context). Gatehouse still listens on 127.0.0.1.
        self.base = f"http://localhost:{self.port}"
        self.workdir = workdir
        self.oidc = OidcProvider(f"{self.base}/v1/oauth/test/callback")
        redis = f'url = "{redis_url}"\nkey_prefix = "browser-{os.getpid()}:"' if redis_url else ""
        config = workdir / "gatehouse.toml"
        config.write_text(
            f'public_url = "{self.base}"\n'
            f'[server]\nlisten = "127.0.0.1:{self.port}"\nredirect_allowlist = ["{app_base}/"]\n'
            'trusted_proxies = ["127.0.0.1/32"]\n'
            # The app behind Caddy (the forward-auth story) is on localhost too, another port, so the
            # session cookie (host-scoped, not port-scoped) reaches it.
            '[forward_auth]\nrules = [{ host = "localhost", require = "signed_in" }]\n'
            f'[database]\nurl = "{database_url}"\n'
            f"[redis]\n{redis}\n"
            "[password]\nargon2_memory_kib = 1024\nargon2_iterations = 1\n"
            f'breached_check = "file"\nbreached_file = "{self.breached_corpus(workdir)}"\n'
            f"[rate_limit]\npolicies = {{ {POLICIES} }}\n"
            "[jobs]\npoll_interval_ms = 100\n"
            f'[oauth.providers.test]\nkind = "oidc"\ndisplay_name = "Test ID"\nissuer = "{self.oidc.issuer}"\n'
            'client_id = "gatehouse"\nclient_secret = "a-test-client-secret-that-is-long-enough"\n'
        )
        self.env = {**os.environ, "GATEHOUSE_CONFIG": str(config), "NO_COLOR": "1", "GATEHOUSE_LOG_FORMAT": "text"}
        self.binary = binary
        self.log_path = workdir / "server.log"
        self.log = open(self.log_path, "w")
        subprocess.run([binary, "migrate"], env=self.env, check=True, capture_output=True)
        self.process = subprocess.Popen([binary, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/health/ready", timeout=2) as response:
                    if response.status == 200:
                        self.caddy = Caddy(f"127.0.0.1:{self.port}", app_base.removeprefix("http://"), workdir)
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Gatehouse did not become ready; see {self.log_path}")

    @staticmethod
    def breached_corpus(workdir):
        """A breach corpus in the downloadable format (`HASH:COUNT`, sorted) listing BREACHED."""
        listed = sorted([hashlib.sha1(BREACHED.encode()).hexdigest().upper(), "0" * 40, "F" * 40])
        path = workdir / "breached.txt"
        path.write_text("".join(f"{line}:{n + 1}\r\n" for n, line in enumerate(listed)))
        return path

    def mails_to(self, email, subject):
        """The text of every email so far to `email` whose subject contains `subject`."""
        text = self.log_path.read_text()
        blocks = text.split("email (console provider")[1:]
        return [b for b in blocks if f'to="{email}"' in b and subject in b.split("subject=", 1)[-1].split("\n", 1)[0]]

    def mail_to(self, email, subject, timeout=15):
        """The newest such email, waiting for it to be sent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.mails_to(email, subject)
            if found:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no email to {email} about {subject!r}; see {self.log_path}")

    def link_for(self, email, page, timeout=15):
        """The newest link to `page` in an email to `email`, read from the console email sink."""
        pattern = re.compile(re.escape(self.base + page) + r"\?token=[A-Za-z0-9_\-]+(?:&return_to=[^\s]+)?")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text()
            # Each email is one log record: its text, then its fields (`to="…"`).
            blocks = [block for block in text.split("email (console provider")[1:] if f'to="{email}"' in block]
            found = [match.group(0) for block in blocks for match in pattern.finditer(block)]
            if found:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no email to {email} with a link to {page}; see {self.log_path}")

    def stop(self):
        self.caddy.stop()
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
        self.oidc.stop()

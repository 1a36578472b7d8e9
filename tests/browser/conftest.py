"""Fixtures for the browser suite: one Gatehouse per backend for the whole run, one headless
Chromium (Debian's package, driven by Playwright) for the whole run, a fresh browser context per
story, and a screenshot of each story's last page under target/browser/."""

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from harness import ROOT, App, Gatehouse

SHOTS = ROOT / "target/browser/screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/lib/chromium/chromium")


def pytest_addoption(parser):
    parser.addoption("--binary", default=str(ROOT / "target/debug/gatehouse"))
    parser.addoption("--postgres", default=os.environ.get("GATEHOUSE_TEST_DATABASE_URL"))
    parser.addoption("--redis", default=os.environ.get("GATEHOUSE_TEST_REDIS_URL"))


def pytest_generate_tests(metafunc):
    if "gh" in metafunc.fixturenames:
        backends = ["sqlite"]
        if metafunc.config.getoption("--postgres"):
            backends.append("postgres")
        metafunc.parametrize("gh", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def app():
    app = App()
    yield app
    app.stop()


@pytest.fixture(scope="session")
def gh(request, app):
    """A running Gatehouse: `request.param` is the backend."""
    options = request.config
    workdir = Path(tempfile.mkdtemp(prefix=f"gatehouse-browser-{request.param}-"))
    database = None
    if request.param == "sqlite":
        url, redis = f"sqlite://{workdir / 'gatehouse.db'}", None
    else:
        admin = options.getoption("--postgres")
        database = f"gatehouse_browser_{uuid.uuid4().hex[:10]}"
        subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {database}"], check=True)
        url, redis = admin.rsplit("/", 1)[0] + f"/{database}", options.getoption("--redis")
    server = Gatehouse(options.getoption("--binary"), workdir, url, redis, app.base)
    server.backend = request.param
    server.app = app
    yield server
    server.stop()
    if database:
        subprocess.run(["psql", options.getoption("--postgres"), "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=False)
    keep = SHOTS.parent / f"server-{request.param}.log"
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(server.log_path, keep)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            # Everything runs as root here; and the browser never leaves loopback.
            args=["--no-sandbox", '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'],
        )
        yield browser
        browser.close()


class Visit:
    """One browser context: its page, every console error and every request it made."""

    def __init__(self, browser, gh, **options):
        self.gh = gh
        self.context = browser.new_context(**{"viewport": {"width": 1000, "height": 900}, **options})
        self.page = self.context.new_page()
        self.console_errors = []
        self.requests = []
        self.page.on("console", lambda message: message.type == "error" and self.console_errors.append(f"{message.text} at {self.page.url}"))
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        self.context.on("request", lambda request: self.requests.append(request.url))

    def go(self, path):
        return self.page.goto(path if path.startswith("http") else self.gh.base + path)

    def new_page(self):
        return self.context.new_page()

    def foreign_requests(self):
        allowed = (self.gh.base, self.gh.app.base, self.gh.oidc.issuer, self.gh.caddy.base)
        return [url for url in self.requests if not url.startswith(allowed)]

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, gh, request):
    visits = []

    def open_visit(**options):
        v = Visit(browser, gh, **options)
        visits.append(v)
        return v

    yield open_visit
    SHOTS.mkdir(parents=True, exist_ok=True)
    # The story's last page: that of the browser it opened last (the one the story is about).
    if visits and not visits[-1].page.is_closed():
        name = request.node.originalname.removeprefix("test_")
        visits[-1].page.screenshot(path=SHOTS / f"{gh.backend}-{name}.png", full_page=True)
    for v in visits:
        assert not v.foreign_requests(), f"requests to other origins: {v.foreign_requests()}"
        v.close()

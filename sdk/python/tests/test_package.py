"""The package as a user installs it: its version, its generated API against the server's
document, and the README's quickstart run as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import gatehouse

# The package's source folder (sdk/python), which the run script names: the tests run from a copy.
SDK = Path(os.environ.get("SDK_TEST_SOURCE", Path(__file__).resolve().parents[1]))


def test_the_version_is_the_servers(server):
    printed = server.run("--version").split()[-1]
    assert gatehouse.__version__ == printed
    from importlib.metadata import version

    assert version("gatehouse-sdk") == printed


def test_it_is_the_installed_wheel_not_the_source_folder():
    assert "site-packages" in gatehouse.__file__, gatehouse.__file__


def test_the_generated_api_matches_the_servers_document(server, tmp_path):
    document = tmp_path / "openapi.json"
    document.write_text(server.run("openapi"))
    check = subprocess.run([sys.executable, str(SDK / "generate.py"), str(document), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    # And what is installed is what is committed.
    installed = Path(gatehouse.__file__).parent / "_api.py"
    assert installed.read_text() == (SDK / "src/gatehouse/_api.py").read_text()
    assert "validation_failed" in gatehouse.PROBLEM_CODES and "email_taken" in gatehouse.PROBLEM_CODES
    assert ("POST", "/v1/me/password") in gatehouse.OPERATIONS


def test_the_readme_quickstart_runs_as_written(server, tmp_path):
    readme = (SDK / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    script = tmp_path / "quickstart.py"
    script.write_text(code)
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "GATEHOUSE_URL": server.url})
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines == [f"{server.url}/login?return_to=https%3A%2F%2Fapp.example.com%2F", "None"], lines

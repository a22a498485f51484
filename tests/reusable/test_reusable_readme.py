"""The README's Bolt section runs as written: its ```python blocks, in order, in a subprocess
with the test settings (Django set up first, as in a project's module)."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
from urllib.parse import urlencode
from urllib.request import urlopen

from tests.reusable.conftest import REPO, run

BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def bolt_section_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Bolt for Python\n", 1)[1].split("\n## ", 1)[0]
    return BLOCK.findall(section)


def test_readme_bolt_section_runs_as_written(tmp_path: object) -> None:
    blocks = bolt_section_blocks()
    assert len(blocks) >= 3
    # The first block is yourproject/slack_app.py; the second names it in SLACK_BOLT_APP.
    package = tmp_path / "yourproject"  # type: ignore[operator]
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "slack_app.py").write_text(blocks[0])
    settings_block = blocks[1]
    setting = dict(re.findall(r'^(\w+) = "([^"]+)"', settings_block, re.MULTILINE))
    rest = "\n".join(f"exec({block!r}, {{}})" for block in blocks[2:])
    script = (
        textwrap.dedent(
            f"""
        import django
        django.setup()
        from django.conf import settings
        settings.SLACK_BOLT_APP = {setting["SLACK_BOLT_APP"]!r}
        from installations.bolt.request_url import configured_app
        app = configured_app()
        names = [str(listener.matchers) for listener in app._listeners]
        assert len(names) >= 6, names
        """
        )
        + rest
        + "\nprint('README OK')\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{tmp_path}:{REPO}"
    env["DJANGO_SETTINGS_MODULE"] = "slackinstall.settings"
    done = run(
        [sys.executable, "-c", "import tests.support.testenv\n" + script], cwd=str(REPO), env=env
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "README OK" in done.stdout


# --- "Develop against the local Slack stand-in": the command and settings, as written ----------

SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
README_STANDIN_PORT = "8001"


def standin_section() -> str:
    text = (REPO / "README.md").read_text()
    return text.split("### Develop against the local Slack stand-in\n", 1)[1].split("\n## ", 1)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_readme_standin_command_and_settings_work_as_written() -> None:
    """The README's command runs from the checkout as written, but for its port (tests never take
    a fixed one); the development settings it shows then reach that stand-in."""
    section = standin_section()
    (command,) = [line for line in SH_BLOCK.findall(section)[0].splitlines() if line.strip()]
    words = shlex.split(command)
    env = dict(os.environ)
    while "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    port = str(free_port())
    at = words.index("--port")
    assert words[at + 1] == README_STANDIN_PORT
    words[at + 1] = port
    settings: dict[str, str] = {}
    exec(BLOCK.findall(section)[0], {}, settings)  # noqa: S102 (the README's own settings)
    server = subprocess.Popen(
        words, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        started = server.stdout.readline()
        assert f"127.0.0.1:{port}" in started, started
        local = {name: value.replace(f":{README_STANDIN_PORT}/", f":{port}/")
                 for name, value in settings.items()}  # fmt: skip
        assert f"(api {local['SLACK_API_URL']})" in started
        query = urlencode(
            {
                "client_id": settings["SLACK_CLIENT_ID"],
                "scope": "commands",
                "redirect_uri": settings["SLACK_REDIRECT_URI"],
                "state": "s",
            }
        )
        with urlopen(f"{local['SLACK_AUTHORIZE_URL']}?{query}", timeout=10) as page:  # noqa: S310
            assert page.status == 200
            assert "Allow" in page.read().decode()
        with urlopen(local["SLACK_SIGNIN_JWKS_URL"], timeout=10) as keys:  # noqa: S310
            assert json.loads(keys.read())["keys"]
    finally:
        server.terminate()
        server.wait(timeout=10)

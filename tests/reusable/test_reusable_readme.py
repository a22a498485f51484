"""The README's Bolt section runs as written: its ```python blocks, in order, in a subprocess
with the test settings (Django set up first, as in a project's module)."""

from __future__ import annotations

import os
import re
import sys
import textwrap

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

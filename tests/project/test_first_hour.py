"""The first hour from a fresh clone: setup without traps, development without real Slack.

Each test works in a copy of the project (tests/support/project_copy.py) with an environment that
never configured slackinstall, the way a new user starts.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from installations.encryption.keyring import Keyring
from slackinstall import dev_secrets
from slackstandin import SlackStandIn, dev_standin
from tests.support.project_copy import ROOT, clean_env, copy_project, make, manage
from tests.support.servers import free_port

if TYPE_CHECKING:
    from subprocess import CompletedProcess

REQUIRED_IN_PRODUCTION = [
    "DJANGO_SECRET_KEY",
    "TOKEN_ENCRYPTION_KEYS",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_SIGNING_SECRET",
    "SLACK_REDIRECT_URI",
    "DJANGO_ALLOWED_HOSTS",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "clone")


def problems(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("configuration error: ")]


# Prints every string our settings module holds (recursively), and the problems it found.
DUMP_SETTINGS = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackinstall.settings")
import django
django.setup()
import slackinstall.settings as module

def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from strings(item)
    elif isinstance(value, os.PathLike):
        yield os.fspath(value)

names = [name for name in vars(module) if name.isupper()]
print(json.dumps({
    "strings": {name: list(strings(getattr(module, name))) for name in names},
    "problems": module.CONFIGURATION_PROBLEMS,
    "api_url": module.SLACK_API_URL,
    "authorize_url": module.SLACK_AUTHORIZE_URL,
    "client_id": module.SLACK_CLIENT_ID,
    "conn_max_age": module.DATABASES["default"]["CONN_MAX_AGE"],
}))
"""


def dump_settings(project: Path, env: dict[str, str]) -> dict[str, Any]:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", DUMP_SETTINGS],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    dumped: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return dumped


# --- .env.example ------------------------------------------------------------------------------
def test_env_example_keeps_comments_on_their_own_lines() -> None:
    for number, line in enumerate((ROOT / ".env.example").read_text().splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), (number, line)
        assert "#" not in value, (number, line)


@pytest.mark.parametrize("debug", ["false", "true"])
def test_a_copied_env_example_puts_no_comment_text_into_any_setting(
    project: Path, debug: str
) -> None:
    (project / ".env").write_text((project / ".env.example").read_text())
    env = clean_env(DATABASE_URL=f"sqlite:///{project / 'db.sqlite3'}")
    if debug == "true":
        env["DJANGO_DEBUG"] = "true"  # the environment wins over the file, as with make run
    dumped = dump_settings(project, env)
    holding_comments = {
        name: value
        for name, values in dumped["strings"].items()
        for value in values
        if "#" in value
    }
    assert holding_comments == {}
    if debug == "true":
        assert dumped["problems"] == []  # make run works straight from the copy
    else:  # production: exactly the variables still to fill, and nothing about comments
        assert sorted(p.split(" ")[0] for p in dumped["problems"]) == sorted(REQUIRED_IN_PRODUCTION)


def test_an_inline_comment_in_dotenv_is_refused_naming_the_variable(project: Path) -> None:
    (project / ".env").write_text("SLACK_APP_ID=A0123456 # from Basic Information\n")
    result = manage(project, clean_env(DJANGO_DEBUG="true"), "check")
    assert result.returncode == 2
    lines = problems(result.stderr)
    assert len(lines) == 1 and "SLACK_APP_ID" in lines[0] and "comment" in lines[0]


def test_space_separated_scopes_stop_migrate_and_check_naming_the_setting(project: Path) -> None:
    """`make run` migrates first: a scope setting Slack cannot take stops it before serving."""
    (project / ".env").write_text("SLACK_SCOPES=commands chat:write\n")
    for command in (["check"], ["migrate", "--noinput"]):
        result = manage(project, clean_env(DJANGO_DEBUG="true"), *command)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        flagged = [line for line in result.stderr.splitlines() if "installations.E018" in line]
        assert len(flagged) == 1 and "SLACK_SCOPES holds 'commands chat:write'" in flagged[0]
    database = project / "db.sqlite3"  # the checks may open it; nothing was migrated into it
    if database.exists():
        with sqlite3.connect(database) as conn:
            assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_a_database_that_cannot_be_used_is_one_line_not_a_traceback(project: Path) -> None:
    nobody_listens = f"postgres://nobody@127.0.0.1:{free_port()}/nothing"
    cases = {
        nobody_listens: ("migrate", "--noinput"),
        f"sqlite:///{project / 'never-migrated.sqlite3'}": ("slack_installations",),
        f"sqlite:///{project / 'no-such-folder' / 'db.sqlite3'}": ("migrate", "--noinput"),
    }
    for url, command in cases.items():
        result = manage(project, clean_env(DJANGO_DEBUG="true", DATABASE_URL=url), *command)
        assert result.returncode == 1, (url, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("database error: "), (url, lines)
    verbose = manage(
        project,
        clean_env(DJANGO_DEBUG="true", DATABASE_URL=nobody_listens),
        "migrate",
        "--traceback",
    )
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


# --- no configuration at all -------------------------------------------------------------------
HELP_OF_EVERY_COMMAND = """
import contextlib, io, json, sys
import manage
from django.core.management import get_commands

def run(argv):
    sys.argv = ["manage.py", *argv]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            manage.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}

results = {"help": run(["help"]), "--help": run(["--help"]), "--version": run(["--version"])}
results["help slack_verify"] = run(["help", "slack_verify"])
for name in sorted(get_commands()):
    results[name + " --help"] = run([name, "--help"])
print(json.dumps(results))
"""


def test_help_of_every_command_works_with_no_configuration(project: Path) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", HELP_OF_EVERY_COMMAND],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(results) > 30  # Django's commands and ours
    for invocation, outcome in results.items():
        assert outcome["code"] == 0, (invocation, outcome)
        assert "configuration error" not in outcome["err"], invocation
        if invocation.endswith(" --help"):
            assert outcome["out"].startswith("usage:"), (invocation, outcome["out"][:200])
    for ours in ("slack_init", "slack_keygen", "slack_verify", "slack_installations"):
        assert f"{ours} --help" in results


def test_slack_keygen_works_with_no_configuration(project: Path) -> None:
    result = manage(project, clean_env(), "slack_keygen", "--kid", "first")
    assert result.returncode == 0, result.stderr
    entry = result.stdout.strip()
    assert Keyring.parse(entry).kids == ("first",)


def test_other_commands_refuse_to_run_with_no_configuration(project: Path) -> None:
    result = manage(project, clean_env(), "migrate")
    assert result.returncode == 2
    names = sorted(line.split(" ")[2] for line in problems(result.stderr))
    assert names == sorted(REQUIRED_IN_PRODUCTION)
    assert not (project / "db.sqlite3").exists()


# --- slack_init / make env ---------------------------------------------------------------------
def test_make_env_writes_a_dotenv_with_generated_keys_and_never_overwrites_it(
    project: Path,
) -> None:
    result = make(project, clean_env(), "env")
    assert result.returncode == 0, result.stdout + result.stderr
    dotenv = project / ".env"
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    text = dotenv.read_text()
    values = dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    secret_key = values["DJANGO_SECRET_KEY"]
    # Django's own W009 rule, and nothing django-environ would misread.
    assert len(secret_key) >= 50 and len(set(secret_key)) >= 5
    assert not secret_key.startswith("django-insecure") and "$" not in secret_key
    assert len(Keyring.parse(values["TOKEN_ENCRYPTION_KEYS"]).kids) == 1
    assert "Still to fill:" in result.stdout
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET"):
        assert values[name] == "" and name in result.stdout

    again = manage(project, clean_env(), "slack_init")
    assert again.returncode == 1
    assert "already exists" in again.stderr and "not overwriting" in again.stderr
    assert make(project, clean_env(), "env").returncode != 0
    assert dotenv.read_text() == text

    # Start-up now asks for exactly what is left, all at once.
    check = manage(project, clean_env(), "check")
    assert check.returncode == 2
    names = sorted(line.split(" ")[2] for line in problems(check.stderr))
    assert names == sorted(
        set(REQUIRED_IN_PRODUCTION) - {"DJANGO_SECRET_KEY", "TOKEN_ENCRYPTION_KEYS"}
    )


def test_make_env_in_a_development_checkout_says_what_becomes_of_its_data(project: Path) -> None:
    token = "xoxb-fake-" + os.urandom(8).hex()
    debug = clean_env(DJANGO_DEBUG="true", SLACK_STANDIN_PORT=str(free_port()))
    assert manage(project, debug, "migrate", "--noinput").returncode == 0
    store = (
        "from installations.models import Workspace; "
        f"Workspace.objects.create(client_id='1', team_id='T0DEVDATA1', bot_token='{token}')"
    )
    assert manage(project, debug, "shell", "-c", store).returncode == 0

    result = make(project, clean_env(), "env")
    assert result.returncode == 0, result.stderr
    assert "db.sqlite3 holds 1 development install(s)" in result.stdout
    assert "make try-production" in result.stdout

    read = "from installations.models import Workspace; print(Workspace.objects.get().bot_token)"
    after = manage(project, debug, "shell", "-c", read)
    assert after.returncode == 0 and after.stdout.strip().splitlines()[-1] == token  # make run


def test_slack_init_with_a_host_fills_the_host_variables(project: Path) -> None:
    result = manage(project, clean_env(), "slack_init", "--host", "install.example.com")
    assert result.returncode == 0, result.stderr
    text = (project / ".env").read_text()
    assert "\nDJANGO_ALLOWED_HOSTS=install.example.com\n" in text
    assert "\nDJANGO_CSRF_TRUSTED_ORIGINS=https://install.example.com\n" in text
    assert "\nSLACK_REDIRECT_URI=https://install.example.com/slack/oauth_redirect\n" in text
    fill_in = {
        "SLACK_CLIENT_ID": "1111.2222",
        "SLACK_CLIENT_SECRET": "fake-client-secret",
        "SLACK_SIGNING_SECRET": "fake-signing-secret",
        "DATABASE_URL": f"sqlite:///{project / 'db.sqlite3'}",
    }
    check = manage(project, clean_env(**fill_in), "check", "--deploy", "--fail-level", "WARNING")
    assert check.returncode == 0, check.stdout + check.stderr


# --- make serve refuses a weak configuration ---------------------------------------------------
def test_a_fresh_clone_with_the_example_env_makes_serve_list_every_problem(project: Path) -> None:
    (project / ".env").write_text((project / ".env.example").read_text())
    port = free_port()
    result = make(project, clean_env(PORT=str(port)), "serve")
    assert result.returncode != 0
    lines = problems(result.stderr)
    assert sorted(line.split(" ")[2] for line in lines) == sorted(REQUIRED_IN_PRODUCTION)
    assert "make serve: not starting" in result.stderr
    assert "gunicorn" not in result.stdout  # stopped before the server
    assert not (project / "db.sqlite3").exists()


def test_make_serve_refuses_deploy_check_warnings_saying_what_to_fix(project: Path) -> None:
    assert (
        manage(project, clean_env(), "slack_init", "--host", "install.example.com").returncode == 0
    )
    weak = clean_env(
        DJANGO_SECRET_KEY="too-short-" + os.urandom(4).hex(),
        DJANGO_HSTS_SECONDS="0",
        SLACK_CLIENT_ID="1111.2222",
        SLACK_CLIENT_SECRET="fake-client-secret",
        SLACK_SIGNING_SECRET="fake-signing-secret",
        DATABASE_URL=f"sqlite:///{project / 'db.sqlite3'}",
        PORT=str(free_port()),
    )
    result = make(project, weak, "serve")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "(security.W009)" in output and "(security.W004)" in output  # both, in one run
    assert "make serve: not starting: fix what is listed above" in result.stderr
    assert "gunicorn" not in result.stdout


# --- development never touches real Slack -------------------------------------------------------
def test_standin_credentials_are_generated_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / ".dev-secrets.json"
    first = dev_secrets.load_or_create(path)
    assert re.fullmatch(r"\d+\.\d+", first["SLACK_STANDIN_CLIENT_ID"])
    assert dev_secrets.load_or_create(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # A file from before the stand-in's credentials were kept: filled in, nothing else changes.
    older = {k: first[k] for k in ("DJANGO_SECRET_KEY", "TOKEN_ENCRYPTION_KEYS")}
    path.write_text(json.dumps(older))
    upgraded = dev_secrets.load_or_create(path)
    assert {k: upgraded[k] for k in older} == older
    assert upgraded["SLACK_STANDIN_CLIENT_ID"] and upgraded["SLACK_STANDIN_CLIENT_SECRET"]
    assert dev_secrets.load_or_create(path) == upgraded


def test_debug_without_a_client_id_points_every_slack_url_at_the_standin(project: Path) -> None:
    port = free_port()
    env = clean_env(
        DJANGO_DEBUG="true",
        SLACK_STANDIN_PORT=str(port),
        # A copied production value must not send development tokens to slack.com.
        SLACK_API_URL="https://slack.com/api/",
        SLACK_AUTHORIZE_URL="https://slack.com/oauth/v2/authorize",
    )
    first = dump_settings(project, env)
    assert first["problems"] == []
    assert first["api_url"] == f"http://127.0.0.1:{port}/api/"
    assert first["authorize_url"] == f"http://127.0.0.1:{port}/oauth/v2/authorize"
    kept = json.loads((project / ".dev-secrets.json").read_text())
    assert first["client_id"] == kept["SLACK_STANDIN_CLIENT_ID"]
    assert dump_settings(project, env)["client_id"] == first["client_id"]  # one app, every run


# Runs manage.py with an audit hook recording every host this process resolves or connects to.
RECORD_CONNECTIONS = """
import json, os, runpy, sys
record = open(os.environ["CONNECTIONS_LOG"], "a")

def hook(event, args):
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple):
            record.write(json.dumps([str(address[0]), address[1]]) + "\\n")
            record.flush()
    elif event == "socket.getaddrinfo":
        record.write(json.dumps([str(args[0]), args[1]]) + "\\n")
        record.flush()

sys.addaudithook(hook)
sys.argv = ["manage.py", *sys.argv[1:]]
runpy.run_path("manage.py", run_name="__main__")
"""


def run_recording(
    project: Path, env: dict[str, str], log: Path, *args: str
) -> CompletedProcess[str]:
    import subprocess

    return subprocess.run(
        [sys.executable, "-c", RECORD_CONNECTIONS, *args],
        cwd=project,
        env={**env, "CONNECTIONS_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def dev_project(project: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    env = clean_env(
        DJANGO_DEBUG="true",
        DATABASE_URL=f"sqlite:///{project / 'dev.sqlite3'}",
        SLACK_STANDIN_PORT=str(free_port()),
        PORT=str(free_port()),
    )
    migrated = manage(project, env, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    yield project, env


def standin_plan_for(project: Path, env: dict[str, str]) -> dev_standin.StandInPlan:
    kept = json.loads((project / ".dev-secrets.json").read_text())
    return dev_standin.StandInPlan(
        port=int(env["SLACK_STANDIN_PORT"]),
        client_id=kept["SLACK_STANDIN_CLIENT_ID"],
        client_secret=kept["SLACK_STANDIN_CLIENT_SECRET"],
        signing_secret=kept["SLACK_SIGNING_SECRET"],
        events_url=f"http://127.0.0.1:{env['PORT']}/slack/events",
        state_file=project / ".standin" / "state.json",
    )


def issue_bot_token(standin: SlackStandIn) -> str:
    from slack_sdk import WebClient
    from slack_sdk.oauth import AuthorizeUrlGenerator

    redirect_uri = "http://127.0.0.1:8000/slack/oauth_redirect"
    url = AuthorizeUrlGenerator(
        client_id=standin.client_id,
        redirect_uri=redirect_uri,
        scopes=["commands", "chat:write"],
        authorization_url=standin.authorize_url,
    ).generate("state-1")
    approved = re.search(r"[?&]code=([^&]+)", standin.approve(url))
    assert approved, "the stand-in's redirect carries no code"
    code = approved.group(1)
    answer = WebClient(base_url=standin.api_url).oauth_v2_access(
        client_id=standin.client_id,
        client_secret=standin.client_secret,
        code=code,
        redirect_uri=redirect_uri,
    )
    return str(answer["access_token"])


def hosts_in(log: Path) -> set[str]:
    if not log.exists():
        return set()
    return {json.loads(line)[0] for line in log.read_text().splitlines()}


def test_slack_verify_in_debug_reaches_the_local_standin_and_never_another_host(
    dev_project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    project, env = dev_project
    plan = standin_plan_for(project, env)
    standin = dev_standin.start(plan)  # as `make run` would have it running
    try:
        token = issue_bot_token(standin)
        added = manage(project, {**env, "SLACK_BOT_TOKEN": token}, "slack_add_token")
        assert added.returncode == 0, added.stdout + added.stderr

        log = tmp_path / "found-running.jsonl"
        found = run_recording(project, env, log, "slack_verify")
        assert found.returncode == 0, found.stdout + found.stderr
        assert "Started the local Slack stand-in" not in found.stderr  # it used the running one
        assert re.search(r"^total\s+1$", found.stdout, re.MULTILINE), found.stdout
        assert re.search(r"\]\s+ok\s", found.stdout), found.stdout  # health: token works
        assert hosts_in(log) and hosts_in(log) <= LOOPBACK
        assert [call.token for call in standin.calls_to("auth.test")][-1] == token
    finally:
        dev_standin.stop(standin, plan)  # keeps what it issued in .standin/state.json

    # Nothing running now: the command starts the stand-in itself, which still knows the token.
    log = tmp_path / "on-demand.jsonl"
    on_demand = run_recording(project, env, log, "slack_verify")
    assert on_demand.returncode == 0, on_demand.stdout + on_demand.stderr
    assert f"Started the local Slack stand-in on {plan.url}/" in on_demand.stderr
    assert re.search(r"\]\s+ok\s", on_demand.stdout), on_demand.stdout  # not marked dead
    assert hosts_in(log) and hosts_in(log) <= LOOPBACK
    assert token not in found.stdout + found.stderr + on_demand.stdout + on_demand.stderr


# --- ports ------------------------------------------------------------------------------------
@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_busy_port_names_the_process_that_holds_it(busy_port: int) -> None:
    message = dev_standin.describe_port_holder(busy_port)
    assert f"port {busy_port} is in use" in message
    if Path("/proc/net/tcp").exists():
        assert f"(pid {os.getpid()})" in message and "python" in message


@pytest.mark.parametrize("which", ["PORT", "SLACK_STANDIN_PORT"])
def test_make_run_says_who_holds_a_busy_port(project: Path, busy_port: int, which: str) -> None:
    import subprocess

    env = clean_env(
        DJANGO_DEBUG="true",
        DATABASE_URL=f"sqlite:///{project / 'dev.sqlite3'}",
        PORT=str(free_port()),
        SLACK_STANDIN_PORT=str(free_port()),
    )
    env[which] = str(busy_port)
    result = subprocess.run(
        [sys.executable, "-m", "slackstandin.devserver"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {busy_port} is in use" in result.stderr
    assert which in result.stderr  # says which setting moves it
    if Path("/proc/net/tcp").exists():
        assert f"(pid {os.getpid()})" in result.stderr


def test_a_port_left_in_time_wait_by_a_stopped_server_counts_as_free() -> None:
    """Restarting `make run` right away must not be refused: runserver binds with SO_REUSEADDR."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end waits in TIME_WAIT
    client.close()
    server.close()
    assert dev_standin.port_is_free(port)

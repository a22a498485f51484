"""`make try-production`: the production server on this machine, over https, against the stand-in.

Production mode (DJANGO_DEBUG off, SSL redirect, secure cookies, HSTS, `check --deploy`) refuses
plain http, so trying it locally needs TLS. This makes a self-signed certificate for 127.0.0.1
and localhost with `cryptography`, starts the local Slack stand-in (production may point at it
while you try it: nothing reaches slack.com), and serves the project with gunicorn and
gunicorn.conf.py, as `make serve` does, on https://127.0.0.1:8443 (PORT to change it).

Everything it makes stays in `.try-production/` (git-ignored): its own secrets, its own SQLite
database and static files, the certificate. Development's `db.sqlite3` and `.dev-secrets.json`
are neither read nor changed, so `make run` finds its data as it left it.

`python -m slackstandin.try_production manage <command> [args]` runs a manage.py command in that
same environment, e.g. `manage createsuperuser` for the admin.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from installations.encryption.keyring import generate_key_entry
from slackstandin import SlackStandIn

BASE_DIR = Path(__file__).resolve().parent.parent
# TRY_PRODUCTION_DIR moves it (the tests use a temporary folder).
TRIAL_DIR = Path(os.environ.get("TRY_PRODUCTION_DIR") or BASE_DIR / ".try-production")
HOST = "127.0.0.1"


def trial_secrets(folder: Path) -> dict[str, str]:
    """The trial's own secrets, made once and kept (so its data stays readable)."""
    path = folder / "secrets.json"
    if path.is_file():
        return dict(json.loads(path.read_text()))
    values = {
        "DJANGO_SECRET_KEY": os.urandom(48).hex(),
        "TOKEN_ENCRYPTION_KEYS": generate_key_entry("trial1"),
        "SLACK_CLIENT_ID": f"{int.from_bytes(os.urandom(4)) % 10**9}.{os.urandom(4).hex()}",
        "SLACK_CLIENT_SECRET": "standin-secret-" + os.urandom(12).hex(),
        "SLACK_SIGNING_SECRET": "standin-signing-" + os.urandom(12).hex(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    return values


def certificate(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1 and localhost, made anew when missing or near expiry."""
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    now = datetime.datetime.now(datetime.UTC)
    if cert_path.is_file() and key_path.is_file():
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if existing.not_valid_after_utc > now + datetime.timedelta(days=1):
            return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "slackinstall production trial")])
    names = [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def trial_environment(folder: Path, port: int, standin_url: str) -> dict[str, str]:
    """The process environment of a production server with the trial's secrets and data."""
    found = trial_secrets(folder)
    origin = f"https://{HOST}:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SLACK_"))}
    env.update(
        {
            **found,
            "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": f"{HOST},localhost",
            "DJANGO_CSRF_TRUSTED_ORIGINS": f"{origin},https://localhost:{port}",
            "DJANGO_STATIC_ROOT": str(folder / "static"),
            "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
            "CACHE_URL": "locmemcache://",
            # Set empty: an empty value counts as unset, and .env cannot fill it in.
            "TOKEN_ENCRYPTION_ACTIVE_KEY_ID": "",
            "SLACK_BOLT_APP": "",
            "SLACK_API_URL": standin_url + "/api/",
            "SLACK_AUTHORIZE_URL": standin_url + "/oauth/v2/authorize",
            "SLACK_SIGNIN_AUTHORIZE_URL": standin_url + "/openid/connect/authorize",
            "SLACK_SIGNIN_JWKS_URL": standin_url + "/openid/connect/keys",
            "SLACK_REDIRECT_URI": f"{origin}/slack/oauth_redirect",
            "HOST": HOST,
            "PORT": str(port),
            "WEB_CONCURRENCY": env.get("WEB_CONCURRENCY", "2"),
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> int:
    return subprocess.call([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env)  # noqa: S603


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    TRIAL_DIR.mkdir(mode=0o700, exist_ok=True)
    port = int(os.environ.get("PORT", "8443"))
    secrets_found = trial_secrets(TRIAL_DIR)
    standin = SlackStandIn(
        client_id=secrets_found["SLACK_CLIENT_ID"],
        client_secret=secrets_found["SLACK_CLIENT_SECRET"],
        signing_secret=secrets_found["SLACK_SIGNING_SECRET"],
        port=int(os.environ.get("SLACK_STANDIN_PORT", "0")),
    ).start()
    try:
        env = trial_environment(TRIAL_DIR, port, standin.url)
        if argv[:1] == ["manage"]:
            return manage(env, *argv[1:])
        for step in (["migrate", "--noinput"], ["collectstatic", "--noinput", "-v", "0"]):
            if manage(env, *step) != 0:
                return 1
        if manage(env, "check", "--deploy", "--fail-level", "WARNING") != 0:
            print("try-production: not starting: fix what is listed above", file=sys.stderr)
            return 1
        cert, key = certificate(TRIAL_DIR)
        print(
            f"\nProduction mode (DJANGO_DEBUG off) on https://{HOST}:{port}/slack/install\n"
            "  The certificate is self-signed: your browser warns once; accept it for this site.\n"
            f"  Slack here is the local stand-in ({standin.url}/): nothing reaches slack.com.\n"
            f"  Data and secrets: {TRIAL_DIR.name}/ (development's db.sqlite3 is left alone).\n"
            "  An admin user: .venv/bin/python -m slackstandin.try_production manage "
            "createsuperuser\n",
            flush=True,
        )
        signal.signal(signal.SIGTERM, _stop)
        server = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
             "--certfile", str(cert), "--keyfile", str(key)],
            cwd=BASE_DIR, env=env,
        )  # fmt: skip
        try:
            return server.wait()
        except KeyboardInterrupt:
            server.send_signal(signal.SIGTERM)
            return server.wait(30)
    finally:
        standin.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

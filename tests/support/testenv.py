"""Loaded by pytest before Django (``-p tests.support.testenv``): the test environment.

Tests run with DJANGO_DEBUG off, as production does, with secrets generated fresh for every run:
nothing secret is written into the repository. Values already in the environment win, so CI can
point DATABASE_URL at PostgreSQL.
"""

import os
import secrets

from installations.encryption.keyring import generate_key_entry

TEST_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "TOKEN_ENCRYPTION_KEYS": generate_key_entry("test1"),
    "SLACK_CLIENT_ID": "1111.2222",
    "SLACK_CLIENT_SECRET": "fake-client-secret-" + secrets.token_hex(8),
    "SLACK_SIGNING_SECRET": "fake-signing-secret-" + secrets.token_hex(8),
    "SLACK_REDIRECT_URI": "https://testserver/slack/oauth_redirect",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",  # tests that talk to Slack start the stand-in
    "SLACK_AUTHORIZE_URL": "http://127.0.0.1:9/oauth/v2/authorize",
    "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
}

for name, value in TEST_ENV.items():
    os.environ.setdefault(name, value)
# A developer's .env must not leak into tests: settings read it only for unset variables.

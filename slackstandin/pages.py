"""HTML pages of the stand-in: authorize, error, and the list of installs. Self-contained.

Every value from a request is escaped with ``html.escape``; no external assets are loaded.
"""

from __future__ import annotations

import time
from html import escape

from .messaging import Message
from .state import DEFAULT_ENTERPRISE_ID, DEFAULT_TEAM_ID, Install

STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d1c1d; }
h1 { font-size: 1.5rem; } fieldset { margin: 1rem 0; border: 1px solid #ccc; border-radius: 6px; }
code { background: #f4f4f4; padding: 0 .25rem; } .note { color: #616061; font-size: .9rem; }
button { font-size: 1rem; padding: .5rem 1.25rem; margin-right: .5rem; border-radius: 4px; }
.allow { background: #007a5a; color: #fff; border: 0; } label { display: block; margin: .25rem 0; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .25rem; }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f'<body><p class="note">Local Slack stand-in (development only)</p>{body}</body></html>'
    )


def _scope_list(scopes: str) -> str:
    items = [s for s in scopes.split(",") if s.strip()]
    if not items:
        return "<p>none</p>"
    return "<ul>" + "".join(f"<li><code>{escape(s.strip())}</code></li>" for s in items) + "</ul>"


def authorize_page(params: dict[str, str], query: str, form_key: str) -> str:
    """The consent page: requested scopes, scenario choices, Allow and Cancel."""
    scope = params.get("scope", "")
    user_scope = params.get("user_scope", "")
    webhook = ""
    if "incoming-webhook" in scope.split(","):  # Slack asks for the webhook's channel then
        webhook = '<label>Webhook channel <input name="channel" value="#general"></label>'
    team = params.get("team") or DEFAULT_TEAM_ID
    body = f"""
<h1>Stand-in App is requesting permission to access a Slack workspace</h1>
<form method="post" action="/oauth/v2/authorize">
<input type="hidden" name="q" value="{escape(query)}">
<input type="hidden" name="form_key" value="{escape(form_key)}">
<h2>Bot scopes</h2>{_scope_list(scope)}
<h2>User scopes</h2>{_scope_list(user_scope)}
<p class="note">Redirects to <code>{escape(params.get("redirect_uri", ""))}</code></p>
<fieldset><legend>Install into</legend>
<label><input type="radio" name="target" value="workspace" checked> workspace</label>
<label><input type="radio" name="target" value="grid-workspace">
  team inside an Enterprise Grid org</label>
<label><input type="radio" name="target" value="org"> org-wide (Enterprise Grid)</label>
<label>Team ID <input name="team_id" value="{escape(team)}"></label>
<label>Org ID <input name="enterprise_id" value="{DEFAULT_ENTERPRISE_ID}"></label>
</fieldset>
<fieldset><legend>Options</legend>
{webhook}
<label><input type="checkbox" name="rotation" value="1"> with token rotation</label>
</fieldset>
<button type="submit" name="decision" value="allow" class="allow">Allow</button>
<button type="submit" name="decision" value="cancel">Cancel</button>
</form>"""
    return _page("Authorize Stand-in App", body)


def error_page(code: str) -> str:
    """What Slack shows when the authorize request itself is wrong (e.g. invalid_client_id)."""
    body = (
        "<h1>Something went wrong when authorizing this app.</h1>"
        f"<p>Error: <code>{escape(code)}</code></p>"
        '<p class="note">Check the app\'s client_id and redirect_uri settings.</p>'
    )
    return _page(f"Error: {code}", body)


def index_page(
    installs: list[Install],
    form_key: str,
    events_url: str | None,
    note: str,
    messages: list[Message] | None = None,
) -> str:
    """Installs this stand-in issued, each with an Uninstall button (sends app_uninstalled),
    buttons that mention the app or run /hello there, and what the app posted back."""
    rows = []
    for install in installs:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(install.installed_at))
        target = "org-wide" if install.is_enterprise_install else "workspace"
        button = (
            "uninstalled"
            if install.uninstalled
            else '<form method="post" action="/uninstall">'
            f'<input type="hidden" name="form_key" value="{escape(form_key)}">'
            f'<input type="hidden" name="team_id" value="{escape(install.team_id or "")}">'
            '<input type="hidden" name="enterprise_id" '
            f'value="{escape(install.enterprise_id or "")}">'
            '<button type="submit">Uninstall app</button></form>'
            + _talk_forms(form_key, install.team_id or "")
        )
        rows.append(
            f"<tr><td>{escape(when)}</td><td>{target}</td>"
            f"<td>{escape(install.team_id or '-')}</td>"
            f"<td>{escape(install.enterprise_id or '-')}</td><td>{button}</td></tr>"
        )
    table = (
        "<table><tr><th>installed</th><th>kind</th><th>team</th><th>org</th><th></th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p>No installs yet. Start one from the app's install page.</p>"
    )
    events = escape(events_url) if events_url else "not set: uninstall only revokes tokens"
    flash = f"<p><strong>{escape(note)}</strong></p>" if note else ""
    body = f"<h1>Stand-in installs</h1>{flash}{table}<p class='note'>Events go to {events}</p>"
    return _page("Stand-in installs", body + _messages_table(messages or []))


def _talk_forms(form_key: str, team_id: str) -> str:
    """ "Mention the app" and "/hello": signed deliveries to the app's Request URL."""
    if not team_id:
        return ""
    hidden = (
        f'<input type="hidden" name="form_key" value="{escape(form_key)}">'
        f'<input type="hidden" name="team_id" value="{escape(team_id)}">'
    )
    return (
        f'<form method="post" action="/mention">{hidden}'
        '<input name="text" value="hello" aria-label="mention text">'
        '<button type="submit">Mention the app</button></form>'
        f'<form method="post" action="/command">{hidden}'
        '<input name="text" value="" aria-label="/hello text">'
        '<button type="submit">Run /hello</button></form>'
    )


def _messages_table(messages: list[Message]) -> str:
    if not messages:
        return "<h2>Messages from the app</h2><p>None yet.</p>"
    rows = "".join(
        f"<tr><td>{escape(time.strftime('%H:%M:%S', time.localtime(m.posted_at)))}</td>"
        f"<td>{escape(m.via)}</td><td>{escape(m.team_id or '-')}</td>"
        f"<td>{escape(m.channel)}</td><td>{escape(m.text)}</td></tr>"
        for m in messages
    )
    return (
        "<h2>Messages from the app</h2><table><tr><th>at</th><th>via</th><th>team</th>"
        f"<th>channel</th><th>text</th></tr>{rows}</table>"
    )

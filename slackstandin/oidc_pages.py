"""The stand-in's Sign in with Slack page: choose who signs in, and from which workspace."""

from __future__ import annotations

from html import escape

from .oidc import USERS
from .pages import _page
from .state import DEFAULT_TEAM_ID


def authorize_page(params: dict[str, str], query: str, form_key: str) -> str:
    team = params.get("team") or DEFAULT_TEAM_ID
    options = "".join(
        f'<label><input type="radio" name="user_id" value="{escape(uid)}"'
        f"{' checked' if index == 0 else ''}> {escape(name)} (<code>{escape(uid)}</code>, "
        f"{escape(email)})</label>"
        for index, (uid, name, email) in enumerate(USERS)
    )
    body = f"""
<h1>Sign in to Stand-in App with Slack</h1>
<p>The app asks for: <code>{escape(params.get("scope", ""))}</code></p>
<form method="post" action="/openid/connect/authorize">
<input type="hidden" name="q" value="{escape(query)}">
<input type="hidden" name="form_key" value="{escape(form_key)}">
<fieldset><legend>Sign in as</legend>{options}
<label>or user ID <input name="other_user_id" value=""></label>
<label>Email <input name="email" value="" placeholder="(the person's own)"></label>
</fieldset>
<fieldset><legend>Workspace</legend>
<label>Team ID <input name="team_id" value="{escape(team)}"></label>
<label>Org ID (Enterprise Grid; blank if none) <input name="enterprise_id" value=""></label>
</fieldset>
<p class="note">Redirects to <code>{escape(params.get("redirect_uri", ""))}</code></p>
<button type="submit" name="decision" value="allow" class="allow">Allow</button>
<button type="submit" name="decision" value="cancel">Cancel</button>
</form>"""
    return _page("Sign in with Slack (stand-in)", body)

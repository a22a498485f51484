"""``{% branding as brand %}``: the app's public name, description, icon and links for a page
(a tag, not a context processor: it works in any host project, Django's 500 page included)."""

from __future__ import annotations

from django import template

from installations.conf import Branding
from installations.conf import branding as configured_branding

register = template.Library()


@register.simple_tag
def branding() -> Branding:
    return configured_branding()

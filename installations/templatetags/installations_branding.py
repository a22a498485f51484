"""``{% branding as brand %}``: the app's public name, description, icon and links for a page.

A tag, not a context processor: it works in any host project, Django's 500 page included.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import template
from django.templatetags.static import static

from installations.conf import DEFAULT_APP_NAME
from installations.conf import branding as configured_branding

register = template.Library()


@dataclass(frozen=True)
class PageBranding:
    app_name: str
    admin_title: str
    description: str
    icon_url: str  # also the favicon
    privacy_url: str
    support_url: str
    named: bool

    @property
    def subject(self) -> str:
        """How a sentence names the app: its configured name, or "The app" when it has none."""
        return self.app_name if self.named else "The app"

    @property
    def support_is_email(self) -> bool:
        return self.support_url.lower().startswith("mailto:")

    @property
    def support_address(self) -> str:
        """The e-mail address of a mailto: link, for a sentence that names it."""
        return self.support_url[len("mailto:") :].split("?", 1)[0] if self.support_is_email else ""


def _url(path: str) -> str:
    return path if path.startswith("/") else static(path)


@register.simple_tag
def branding() -> PageBranding:
    brand = configured_branding()
    return PageBranding(
        app_name=brand.app_name,
        admin_title=brand.admin_title,
        description=brand.description,
        icon_url=_url(brand.icon),
        privacy_url=brand.privacy_url,
        support_url=brand.support_url,
        named=brand.app_name != DEFAULT_APP_NAME,
    )

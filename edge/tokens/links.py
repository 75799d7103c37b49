"""Tracking URLs: the one place that decides scheme, host and port of a wrapped link.

A tracked link must never turn an ``https`` link into plain ``http``: that would expose the
click (and the destination) to anyone on the path, and browsers warn about it. So a link is
wrapped with ``https`` when its domain is secure *or* its target is https.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.model.domains import TrackingHost
from edge.tokens.codec import TokenCodec


@dataclass(frozen=True)
class LinkBuilder:
    codec: TokenCodec
    #: Ports written into URLs; left out when they are the scheme's default.
    http_port: int = 80
    https_port: int = 443

    def base(self, host: TrackingHost, *, https: bool) -> str:
        if https:
            port = "" if self.https_port == 443 else f":{self.https_port}"
            return f"https://{_bracket(host.domain)}{port}"
        port = "" if self.http_port == 80 else f":{self.http_port}"
        return f"http://{_bracket(host.domain)}{port}"

    def click_url(
        self,
        host: TrackingHost,
        account_id: int,
        url: str,
        *,
        message: str | None = None,
        recipient: str | None = None,
        link: str | None = None,
    ) -> str:
        token = self.codec.sign_click(
            account_id, url, message=message, recipient=recipient, link=link
        )
        # sign_click() accepted the URL, so its scheme is http or https, stated first.
        https = host.secure or url.strip()[:6].lower() == "https:"
        return self.base(host, https=https) + "/e/" + token

    def click_urls(
        self,
        host: TrackingHost,
        account_id: int,
        *,
        message: str | None = None,
        recipient: str | None = None,
        checked: bool = False,
    ) -> Callable[[str, str | None], str]:
        """:meth:`click_url` for many links of one message: ``click_url(url, link)``.

        The same URLs, with what every link shares (the token's fields, the base URLs) done
        once (:meth:`TokenCodec.click_signer`): rewriting a newsletter wraps hundreds. With
        ``checked``, every ``url`` is one that ``safe_url()`` returns unchanged, which the
        caller has checked (see :meth:`TokenCodec.click_signer`).
        """
        sign = self.codec.click_signer(
            account_id, message=message, recipient=recipient, checked=checked
        )
        secure = self.base(host, https=True) + "/e/"
        plain = secure if host.secure else self.base(host, https=False) + "/e/"

        def click_url(url: str, link: str | None = None) -> str:
            token = sign(url, link)
            # sign() accepted the URL, so its scheme is http or https, stated first; a
            # checked one is stripped already, "http" and "://" or "s://" (safe_url()).
            https = url[4] in "sS" if checked else url.strip()[:6].lower() == "https:"
            return (secure if https else plain) + token

        return click_url

    def open_url(
        self,
        host: TrackingHost,
        account_id: int,
        *,
        message: str | None = None,
        recipient: str | None = None,
        kind: str = "open",
    ) -> str:
        token = self.codec.sign_open(account_id, message=message, recipient=recipient, kind=kind)
        return f"{self.base(host, https=host.secure)}/o/{token}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host

"""Server text made safe to quote: what a gateway or proxy echoes may hold our token, sign or secret.

A proxy that reflects the request in its error page puts the query string (`access_token`, `sign`) into the
text, and from an exception it reaches failure callbacks (e-mail, chat) that Airflow's log masker never sees.
Every server text that enters an exception or a log goes through `scrub` first (docs/lingxing-openapi.md,
response envelope).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MAX_QUOTED = 300
"""Characters of server text quoted at most; the rest is counted, not shown."""

SECRET_PARAMETER = re.compile(
    r"(?i)\b(access_token|accessToken|sign|appSecret|app_secret|refreshToken|refresh_token)=[^&\s\"'#<>]*"
)
"""A secret parameter written as `name=value` (a query string, a form body, a log line)."""

MASK = "***"


def scrub(text: str, secrets: Iterable[str] = (), *, limit: int | None = MAX_QUOTED) -> str:
    """`text` without any of `secrets` (as is, or URL-encoded once or twice) and without the value of any
    secret parameter; longer than `limit`, cut there with "… (N more characters)"."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        once = quote(secret, safe="")
        for form in (secret, once, quote_plus(secret), quote(once, safe="")):
            text = text.replace(form, MASK)
    text = SECRET_PARAMETER.sub(rf"\1={MASK}", text)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more characters)"
    return text


def excerpt(body: bytes, secrets: Iterable[str] = ()) -> str:
    """A non-JSON body (an HTML error page) as short, scrubbed text: tags dropped, whitespace collapsed."""
    text = re.sub(r"<[^>]*>", " ", body.decode("utf-8", errors="replace"))
    return scrub(" ".join(text.split()), secrets)

"""One TLS trust for both transports, from one source (docs/lingxing-openapi.md, where the documentation is
silent): the connection's "Verify TLS" choice, its `ca_bundle` extra, then REQUESTS_CA_BUNDLE / SSL_CERT_FILE /
CURL_CA_BUNDLE, then certifi. requests gets the CA file, httpx an SSL context built from the same file, so a
sensor trusts the same servers in poke mode (requests) and in deferrable mode (httpx, in the triggerer).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from functools import cached_property

import certifi

from airflow_provider_lingxing.api.connection import LingxingSettings
from airflow_provider_lingxing.api.errors import LingxingInputError

CA_BUNDLE_ENVIRONMENT = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")


@dataclass(frozen=True)
class Trust:
    """Whether certificates are verified, and against which CA file (or directory)."""

    verify: bool
    ca_path: str | None
    source: str
    """Where `ca_path` came from, as the user would name it."""

    @property
    def requests_verify(self) -> bool | str:
        """The `verify` of a requests Session."""
        return self.ca_path if self.verify and self.ca_path else self.verify

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | bool:
        """The `verify` of an httpx client: an SSL context trusting exactly `ca_path` (False: no verification)."""
        if not self.verify:
            return False
        directory = self.ca_path is not None and os.path.isdir(self.ca_path)
        try:
            if directory:
                return ssl.create_default_context(capath=self.ca_path)
            return ssl.create_default_context(cafile=self.ca_path)
        except (OSError, ssl.SSLError) as error:
            raise LingxingInputError(
                f"the CA certificates to trust ({self.source}: {self.ca_path!r}) cannot be read as PEM: "
                f"{type(error).__name__}"
            ) from None


def trust_for(settings: LingxingSettings) -> Trust:
    """The one trust of a connection: its choice first, then the environment, then certifi."""
    if not settings.verify:
        return Trust(False, None, "the connection's verify=false")
    if settings.ca_bundle:
        return Trust(True, settings.ca_bundle, "the connection's extra ca_bundle")
    for name in CA_BUNDLE_ENVIRONMENT:
        if value := os.environ.get(name, "").strip():
            return Trust(True, value, name)
    return Trust(True, certifi.where(), "certifi")

"""Lingxing's three submit regions, and the Amazon marketplaces each one serves.

The country map is Lingxing's (submitFulfillment's `region`); the marketplace ids are Amazon's public ones
(SP-API "Marketplace IDs"). Where they come from and what is left out: docs/lingxing-openapi.md.
"""

from __future__ import annotations

from typing import NamedTuple

REGIONS = ("NA", "EU", "FE")
"""What submitFulfillment's `region` accepts: North America, Europe, Far East."""


class Marketplace(NamedTuple):
    country: str
    region: str


MARKETPLACES: dict[str, Marketplace] = {
    "A2EUQ1WTGCTBG2": Marketplace("CA", "NA"),
    "ATVPDKIKX0DER": Marketplace("US", "NA"),
    "A1AM78C64UM0Y8": Marketplace("MX", "NA"),
    "A2Q3Y263D00KWC": Marketplace("BR", "NA"),
    "A1RKKUPIHCS9HS": Marketplace("ES", "EU"),
    "A1F83G8C2ARO7P": Marketplace("UK", "EU"),
    "A13V1IB3VIYZZH": Marketplace("FR", "EU"),
    "AMEN7PMS3EDWL": Marketplace("BE", "EU"),
    "A1805IZSGTT6HS": Marketplace("NL", "EU"),
    "A1PA6795UKMFR9": Marketplace("DE", "EU"),
    "APJ6JRA9NG5V4": Marketplace("IT", "EU"),
    "A2NODRKZP88ZB9": Marketplace("SE", "EU"),
    "AE08WJ6YKNBMC": Marketplace("ZA", "EU"),
    "A1C3SOZRARQ6R3": Marketplace("PL", "EU"),
    "ARBP9OOSHTCHU": Marketplace("EG", "EU"),
    "A33AVAJ2PDY3EV": Marketplace("TR", "EU"),
    "A17E79C6D8DWNP": Marketplace("SA", "EU"),
    "A2VIGQ35RCS4UG": Marketplace("AE", "EU"),
    "A21TJRUUN4KGV": Marketplace("IN", "EU"),
    "A19VAU5U5O7RUS": Marketplace("SG", "FE"),
    "A39IBJ37TRP1C6": Marketplace("AU", "FE"),
    "A1VC38T7YXB528": Marketplace("JP", "FE"),
}
"""Amazon marketplace id → its country and Lingxing region, for every country of Lingxing's region map."""


def known_marketplaces() -> str:
    """`ATVPDKIKX0DER (US, NA), …`: the list an error message shows."""
    return ", ".join(f"{mid} ({m.country}, {m.region})" for mid, m in MARKETPLACES.items())

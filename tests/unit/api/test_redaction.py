"""Server text quoted in an error or a log: no token, sign or secret in any encoding, at most 300 characters."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from airflow_provider_lingxing.api.redaction import MAX_QUOTED, excerpt, scrub

SIGN = "hP2sXXAYEp+ZkZYiVRQrA5UMx/tJm=="
TOKEN = "4dcaa78e-2c4b-4a7e-a2bd-4d6a8f0c3f11"


def test_known_secrets_are_removed_in_every_encoding():
    text = f"t={TOKEN} s={SIGN} q={quote(SIGN, safe='')} p={quote_plus(SIGN)} twice={quote(quote(SIGN, safe=''))}"
    scrubbed = scrub(text, [TOKEN, SIGN])
    assert TOKEN not in scrubbed and "hP2sXXAYEp" not in scrubbed
    assert scrubbed.count("***") == 5


def test_secret_parameters_are_removed_without_knowing_them():
    text = "GET /x?access_token=abc&app_key=ak_1&sign=S%2Bx&timestamp=1 appSecret=p4ss refreshToken=r3f"
    assert scrub(text) == "GET /x?access_token=***&app_key=ak_1&sign=***&timestamp=1 appSecret=*** refreshToken=***"


def test_long_text_is_cut_and_counted():
    assert scrub("x" * MAX_QUOTED) == "x" * MAX_QUOTED
    assert scrub("x" * (MAX_QUOTED + 42)) == "x" * MAX_QUOTED + "… (42 more characters)"
    assert scrub("y" * 1000, limit=None) == "y" * 1000


def test_an_html_page_becomes_its_text():
    page = f"<html><body>\n<h1>502 Bad Gateway</h1>\n<p>GET /a?sign={SIGN}</p></body></html>".encode()
    assert excerpt(page, [SIGN]) == "502 Bad Gateway GET /a?sign=***"
    assert excerpt(b"\xff\xfe<br/>") == "\ufffd\ufffd"

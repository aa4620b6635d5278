"""The one set of argument rules: task, order, seller and marketplace ids, regions, table names.

Every layer (hook, sensor, trigger, operators, results, warehouse) checks its arguments here, so one value is
judged the same way everywhere. A rule returns the value as it is sent, or raises LingxingInputError (api/errors.py)
whose message names the argument in one format: `task_ids[3]: must be a positive integer …, got '١٢'`. The
limits: docs/lingxing-openapi.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from airflow_provider_lingxing.api.errors import LingxingInputError
from airflow_provider_lingxing.api.regions import MARKETPLACES, REGIONS, known_marketplaces

MAX_ID = 2**63 - 1
"""Task and order (message) ids are Java longs on Lingxing's side: a larger id cannot exist."""
MAX_SELLER_ID_CHARS = 64
"""The width of the results table's seller_id column; Amazon seller ids are about 14 characters."""
MAX_SHOWN_CHARS = 100
NOTHING: Any = object()
"""The value of an argument that was not given (`got nothing`)."""
TABLE_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
"""One identifier of a table name: it is spliced into SQL, so nothing else is accepted."""


def shown(value: Any) -> str:
    """The value as an error message shows it: its repr, cut, with its type when that is not str or int."""
    if value is NOTHING:
        return "nothing"
    text = repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[: MAX_SHOWN_CHARS - 1] + "…"
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
        text += f" ({type(value).__name__})"
    return text


def problem(argument: str, rule: str, value: Any = NOTHING, *, got: str | None = None) -> str:
    """The one message format: `orders[2].id: must be …, got -5` (`got` replaces the shown value)."""
    return f"{argument}: must be {rule}, got {shown(value) if got is None else got}"


def _whole_number(value: Any, at_most: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= at_most else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text.lstrip("0")) <= len(str(at_most)):
            number = int(text)
            return number if 0 < number <= at_most else None
    return None


def positive_int(value: Any, argument: str, *, at_most: int = MAX_ID, bound: str = "") -> int:
    """An int or a string of ASCII digits, 1 … `at_most`; no bool, bytes, float or other digits (`'²'`)."""
    number = _whole_number(value, at_most)
    if number is None:
        limit = f" no larger than {at_most}{bound}" if at_most != MAX_ID or bound else ""
        raise LingxingInputError(
            problem(argument, f"a positive integer (an int or a string of ASCII digits){limit}", value)
        )
    return number


def positive_id(value: Any, argument: str) -> int:
    """A task id or an order (message) id."""
    return positive_int(value, argument, at_most=MAX_ID, bound=" (2**63-1)")


def id_or_none(value: Any) -> int | None:
    """The same rule, quietly: a task or message id read from Lingxing's answer, or None."""
    return _whole_number(value, MAX_ID)


def submission_items(value: Any, argument: str) -> list[tuple[str, Any]]:
    """`(where, item)` for each task id or submit-operator XCom item in `value`, nested lists flattened.

    A task id, a `{task_id, message_ids}` dict, or a list of those (a mapped submit task gives a list of lists).
    """
    if isinstance(value, (str, int, Mapping)):
        return [(argument, value)]
    if value is None or isinstance(value, (bytes, bytearray)) or not isinstance(value, Iterable):
        rule = "a task id, the submit operator's XCom ({task_id, message_ids}) or a list of these"
        raise LingxingInputError(problem(argument, rule, value))
    items: list[tuple[str, Any]] = []
    for i, item in enumerate(value):
        where = f"{argument}[{i}]"
        items += submission_items(item, where) if isinstance(item, (list, tuple)) else [(where, item)]
    return items


def task_ids(value: Any, argument: str = "task_ids") -> list[int]:
    """Mark-shipped task ids, de-duplicated and sorted; see `submission_items` for the shapes accepted."""
    ids = set()
    for where, item in submission_items(value, argument):
        if isinstance(item, Mapping):
            ids.add(positive_id(item.get("task_id", NOTHING), f"{where}.task_id"))
        else:
            ids.add(positive_id(item, where))
    if not ids:
        raise LingxingInputError(problem(argument, "a non-empty list of task ids", value))
    return sorted(ids)


def _token(value: Any, argument: str, rule: str, max_chars: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > max_chars or any(c.isspace() or not c.isprintable() for c in text):
        raise LingxingInputError(problem(argument, rule, value))
    return text


def seller_id(value: Any, argument: str = "seller_id") -> str:
    """The Amazon seller id, a string (an int is refused: it is likely Lingxing's numeric shop id `sid`)."""
    rule = (
        f"the Amazon seller id as a string of 1 to {MAX_SELLER_ID_CHARS} characters without spaces "
        "(`seller_id` of Lingxing's seller list, e.g. 'A1MQMW3JWPNCBX'; not the numeric `sid`)"
    )
    return _token(value, argument, rule, MAX_SELLER_ID_CHARS)


def marketplace_id(value: Any, argument: str = "marketplace_id") -> str:
    """The Amazon marketplace id, e.g. ATVPDKIKX0DER; any such string (new marketplaces appear)."""
    rule = "the Amazon marketplace id as a string without spaces (e.g. 'ATVPDKIKX0DER')"
    return _token(value, argument, rule, MAX_SELLER_ID_CHARS)


def region(value: Any, argument: str = "region") -> str:
    """NA, EU or FE, any case."""
    text = value.strip().upper() if isinstance(value, str) else ""
    if text not in REGIONS:
        raise LingxingInputError(problem(argument, f"one of {', '.join(REGIONS)} (any case)", value))
    return text


def submission_region(value: Any, marketplace: str, argument: str = "region") -> str:
    """The region to send for `marketplace` (a checked marketplace id): given, or derived from it.

    Refused when both are known and disagree, or when none is given for a marketplace not in the map.
    """
    known = MARKETPLACES.get(marketplace)
    if value is None or (isinstance(value, str) and not value.strip()):
        if known is None:
            rule = (
                f"given for marketplace_id {marketplace!r}, which is not a marketplace of the region map "
                f"({known_marketplaces()})"
            )
            raise LingxingInputError(problem(argument, rule, value))
        return known.region
    given = region(value, argument)
    if known is not None and given != known.region:
        rule = f"{known.region}, the region of marketplace_id {marketplace!r} ({known.country}), or left out"
        raise LingxingInputError(problem(argument, rule, value))
    return given


@cache
def sql_reserved_words() -> frozenset[str]:
    """Words that cannot name a table unquoted in SQL, PostgreSQL, MySQL/MariaDB or SQLite (SQLAlchemy's lists,
    the ones common-sql's dialects use)."""
    from sqlalchemy.dialects.mysql.reserved_words import RESERVED_WORDS_MARIADB, RESERVED_WORDS_MYSQL
    from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as POSTGRES
    from sqlalchemy.dialects.sqlite.base import SQLiteIdentifierPreparer
    from sqlalchemy.sql.compiler import RESERVED_WORDS as ANSI

    words = ANSI | POSTGRES | RESERVED_WORDS_MYSQL | RESERVED_WORDS_MARIADB | SQLiteIdentifierPreparer.reserved_words
    return frozenset(word.casefold() for word in words)


def table_name(value: Any, argument: str = "table") -> str:
    """`table` or `schema.table`: identifiers that are no SQL reserved word (the name is spliced into SQL)."""
    parts = value.split(".") if isinstance(value, str) else []
    if not 1 <= len(parts) <= 2 or not all(TABLE_PART.fullmatch(part) for part in parts):
        rule = (
            "a table name: letters, digits and _ (not first), at most 63 characters, "
            "optionally schema-qualified as schema.table"
        )
        raise LingxingInputError(problem(argument, rule, value))
    if reserved := [part for part in parts if part.casefold() in sql_reserved_words()]:
        rule = f"a name that is no SQL reserved word ({', '.join(map(repr, reserved))} is one)"
        raise LingxingInputError(problem(argument, rule, value))
    return value

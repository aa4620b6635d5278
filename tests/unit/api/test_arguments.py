"""The one set of argument rules, and the one message format naming the argument."""

from __future__ import annotations

import pytest

from airflow_provider_lingxing.api import arguments
from airflow_provider_lingxing.api.arguments import MAX_ID
from airflow_provider_lingxing.api.errors import LingxingInputError
from airflow_provider_lingxing.api.regions import MARKETPLACES, REGIONS

ID_RULE = "must be a positive integer (an int or a string of ASCII digits) no larger than 9223372036854775807 (2**63-1)"

BAD_IDS = {
    "bytes": (b"1003100", "b'1003100' (bytes)"),
    "bytearray": (bytearray(b"12"), "bytearray(b'12') (bytearray)"),
    "bool": (True, "True (bool)"),
    "Arabic-Indic digits": ("١٢", "'١٢'"),
    "superscript two": ("²", "'²'"),
    "fullwidth digits": ("１２", "'１２'"),
    "2**63": (2**63, "9223372036854775808"),
    "2**63 as text": ("9223372036854775808", "'9223372036854775808'"),
    "zero": (0, "0"),
    "zero as text": ("000", "'000'"),
    "negative": (-5, "-5"),
    "float": (12.0, "12.0 (float)"),
    "sign": ("+12", "'+12'"),
    "empty": ("", "''"),
    "None": (None, "None"),
    "5000 digits": ("9" * 5000, "'" + "9" * 98 + "…"),
}


@pytest.mark.parametrize("case", BAD_IDS)
def test_a_bad_id_is_refused_naming_the_argument_the_rule_and_the_value(case):
    value, shown = BAD_IDS[case]
    with pytest.raises(LingxingInputError) as raised:
        arguments.positive_id(value, "task_ids[3]")
    assert str(raised.value).startswith(f"task_ids[3]: {ID_RULE}, got {shown}")
    assert arguments.id_or_none(value) is None


@pytest.mark.parametrize(
    ("value", "number"),
    [(1, 1), ("1003100", 1003100), (" 42 ", 42), ("0007", 7), (MAX_ID, MAX_ID), (str(MAX_ID), MAX_ID)],
)
def test_ints_and_ascii_digit_strings_up_to_2_63_minus_1_are_ids(value, number):
    assert arguments.positive_id(value, "id") == number
    assert arguments.id_or_none(value) == number


@pytest.mark.parametrize("case", BAD_IDS)
def test_a_bad_id_in_a_list_is_named_by_its_index(case):
    value, shown = BAD_IDS[case]
    with pytest.raises(LingxingInputError) as raised:
        arguments.task_ids([1003100, 1003101, 1003102, value], "fulfillment_task_ids")
    assert str(raised.value).startswith(f"fulfillment_task_ids[3]: {ID_RULE}, got {shown}")


def test_bytes_are_not_read_as_a_list_of_byte_values():
    with pytest.raises(LingxingInputError) as raised:
        arguments.task_ids(b"1003100")
    assert str(raised.value) == (
        "task_ids: must be a task id, the submit operator's XCom ({task_id, message_ids}) or a list of these, "
        "got b'1003100' (bytes)"
    )


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        ([3, "1", "1", " 2 "], [1, 2, 3]),
        ("7", [7]),
        (7, [7]),
        ({"task_id": "7", "message_ids": ["1"]}, [7]),
        ([{"task_id": "8"}, 7], [7, 8]),
        ((8, "7"), [7, 8]),
        ({8, 7}, [7, 8]),
        ([[{"task_id": "5", "message_ids": []}], [{"task_id": "6", "message_ids": []}, 7]], [5, 6, 7]),
    ],
)
def test_task_ids_take_ids_the_submit_xcom_and_mapped_lists(value, ids):
    assert arguments.task_ids(value) == ids


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "task_ids: must be a non-empty list of task ids, got [] (list)"),
        ([[]], "task_ids: must be a non-empty list of task ids, got [[]] (list)"),
        (
            None,
            "task_ids: must be a task id, the submit operator's XCom ({task_id, message_ids}) or a list of these, "
            "got None",
        ),
        ([{"message_ids": ["1"]}], f"task_ids[0].task_id: {ID_RULE}, got nothing"),
        ([[1], [2, "²"]], f"task_ids[1][1]: {ID_RULE}, got '²'"),
        ([{"task_id": b"5"}], f"task_ids[0].task_id: {ID_RULE}, got b'5' (bytes)"),
    ],
)
def test_task_id_problems_name_the_culprit_exactly(value, message):
    with pytest.raises(LingxingInputError) as raised:
        arguments.task_ids(value)
    assert str(raised.value) == message


def test_a_mapped_submit_task_s_xcom_is_flattened():
    mapped = [[{"task_id": "5", "message_ids": []}], [{"task_id": "6", "message_ids": []}, 7]]
    assert [item for _, item in arguments.submission_items(mapped, "ids")] == [
        {"task_id": "5", "message_ids": []},
        {"task_id": "6", "message_ids": []},
        7,
    ]
    assert arguments.submission_items("1003100", "ids") == [("ids", "1003100")]
    assert [where for where, _ in arguments.submission_items(mapped, "ids")] == ["ids[0][0]", "ids[1][0]", "ids[1][1]"]


def test_quantities_have_their_own_bound_with_the_same_rule():
    assert arguments.positive_int("999999999", "q", at_most=999_999_999) == 999_999_999
    with pytest.raises(LingxingInputError) as raised:
        arguments.positive_int(10**9, "orders[0].order_item[0].quantity", at_most=999_999_999)
    assert str(raised.value) == (
        "orders[0].order_item[0].quantity: must be a positive integer (an int or a string of ASCII digits) "
        "no larger than 999999999, got 1000000000"
    )


@pytest.mark.parametrize("value", ["A1MQMW3JWPNCBX", " A1MQMW3JWPNCBX ", "S1", "1234"])
def test_a_seller_id_is_a_string(value):
    assert arguments.seller_id(value) == value.strip()


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (123, "123"),
        ("", "''"),
        ("   ", "'   '"),
        (None, "None"),
        (b"A1", "b'A1' (bytes)"),
        ("A1 B2", "'A1 B2'"),
        ("A1\x00", "'A1\\x00'"),
        ("A" * 65, "'" + "A" * 65 + "'"),
        (True, "True (bool)"),
    ],
)
def test_anything_else_is_refused_as_a_seller_id(value, got):
    """An int is refused everywhere: it is likely Lingxing's numeric shop id (`sid`), not the seller id."""
    with pytest.raises(LingxingInputError) as raised:
        arguments.seller_id(value)
    message = str(raised.value)
    assert message.startswith("seller_id: must be the Amazon seller id as a string of 1 to 64 characters")
    assert "not the numeric `sid`" in message and message.endswith(f"got {got}")


@pytest.mark.parametrize("value", [None, "", "A 1", 5, b"ATVPDKIKX0DER"])
def test_a_marketplace_id_is_a_string_without_spaces(value):
    with pytest.raises(LingxingInputError, match=r"^marketplace_id: must be the Amazon marketplace id as a string"):
        arguments.marketplace_id(value)
    assert arguments.marketplace_id(" ATVPDKIKX0DER ") == "ATVPDKIKX0DER"


@pytest.mark.parametrize(("value", "region"), [("na", "NA"), (" eU ", "EU"), ("Fe", "FE")])
def test_regions_in_any_case(value, region):
    assert arguments.region(value) == region


@pytest.mark.parametrize("value", ["US", "", None, b"NA", "N A", 1])
def test_other_regions_are_refused(value):
    with pytest.raises(LingxingInputError, match=r"^region: must be one of NA, EU, FE \(any case\), got "):
        arguments.region(value)


def test_the_marketplace_map_matches_lingxing_s_country_map():
    """Lingxing's documented country map, and Amazon's public marketplace ids (SP-API "Marketplace IDs")."""
    countries = {
        "NA": {"CA", "US", "MX", "BR"},
        "EU": {"ES", "UK", "FR", "BE", "NL", "DE", "IT", "SE", "ZA", "PL", "EG", "TR", "SA", "AE", "IN"},
        "FE": {"SG", "AU", "JP"},
    }
    assert set(REGIONS) == set(countries)
    for region, expected in countries.items():
        assert {m.country for m in MARKETPLACES.values() if m.region == region} == expected
    by_country = {m.country: mid for mid, m in MARKETPLACES.items()}
    assert (by_country["US"], by_country["CA"], by_country["DE"], by_country["UK"]) == (
        "ATVPDKIKX0DER",
        "A2EUQ1WTGCTBG2",
        "A1PA6795UKMFR9",
        "A1F83G8C2ARO7P",
    )
    assert (by_country["JP"], by_country["AU"], by_country["IN"], by_country["BR"]) == (
        "A1VC38T7YXB528",
        "A39IBJ37TRP1C6",
        "A21TJRUUN4KGV",
        "A2Q3Y263D00KWC",
    )


@pytest.mark.parametrize("value", ["lingxing_fulfillment_results", "analytics.results", "_t1", "A" * 63, "orders"])
def test_identifiers_and_schema_qualified_names_are_table_names(value):
    assert arguments.table_name(value) == value


@pytest.mark.parametrize(
    "value",
    ["results; DROP TABLE users", "a.b.c", "1results", "results ", '"results"', "", "A" * 64, "résultats", None],
)
def test_anything_else_is_not_a_table_name(value):
    with pytest.raises(LingxingInputError, match=r"^table: must be a table name: letters, digits and _"):
        arguments.table_name(value)


@pytest.mark.parametrize(
    ("value", "reserved"),
    [
        ("order", "'order'"),
        ("USER", "'USER'"),
        ("select", "'select'"),
        ("analytics.group", "'group'"),
        ("table.results", "'table'"),
        ("Limit", "'Limit'"),
    ],
)
def test_sql_reserved_words_are_not_table_names(value, reserved):
    with pytest.raises(LingxingInputError) as raised:
        arguments.table_name(value)
    assert str(raised.value) == f"table: must be a name that is no SQL reserved word ({reserved} is one), got {value!r}"


def test_a_long_value_is_cut_in_the_message():
    with pytest.raises(LingxingInputError) as raised:
        arguments.seller_id(["x" * 1000])
    assert len(str(raised.value)) < 400 and str(raised.value).endswith("… (list)")

"""R1: only a lead that honours the Leads table contract can be charged.

The contract (``leads.py``): ``lead_id`` and ``contractor_id`` non-empty strings of at most
128 characters, ``price_cents`` a whole number from 1 to 100000 (a ``Decimal``, as the
DynamoDB stream deserializer gives numbers), ``delivered_at`` ISO 8601 with a UTC offset,
``category`` a non-empty string of at most 100 characters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from functions.billing.leads import InvalidLead, parse_lead
from functions.billing.money import Money


def stream_item(**overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "lead_id": "lead-7f3a",
        "contractor_id": "contractor-42",
        "price_cents": Decimal("1500"),
        "delivered_at": "2024-03-10T08:15:00-06:00",
        "category": "roofing",
        "homeowner_zip": "60614",  # not part of the contract: ignored
    }
    item.update(overrides)
    return item


def without(field_name: str) -> dict[str, object]:
    item = stream_item()
    del item[field_name]
    return item


def test_r1_given_a_valid_stream_item_when_parsed_then_the_lead_carries_its_own_price():
    lead = parse_lead(stream_item())

    assert lead.lead_id == "lead-7f3a"
    assert lead.contractor_id == "contractor-42"
    assert lead.price == Money(1500)
    assert lead.category == "roofing"
    # 08:15 at UTC-6 is 14:15 UTC; the lead keeps the instant, in UTC.
    assert lead.delivered_at == datetime(2024, 3, 10, 14, 15, tzinfo=UTC)
    assert lead.delivered_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("price", "cents"),
    [
        (Decimal("1"), 1),
        (Decimal("100000"), 100_000),
        (Decimal("2500.0"), 2500),  # integral, whatever its exponent
        (Decimal("2.5E+3"), 2500),
        (2500, 2500),
    ],
)
def test_r1_given_a_whole_price_within_bounds_when_parsed_then_it_is_accepted(price, cents):
    assert parse_lead(stream_item(price_cents=price)).price == Money(cents)


@pytest.mark.parametrize(
    "text",
    ["2024-03-10T14:15:00Z", "2024-03-10T14:15:00+00:00", "2024-03-10T09:15:00.000-05:00"],
)
def test_r1_given_any_utc_offset_when_parsed_then_the_same_instant(text):
    assert parse_lead(stream_item(delivered_at=text)).delivered_at == datetime(
        2024, 3, 10, 14, 15, tzinfo=UTC
    )


def test_r1_given_ids_at_their_maximum_length_when_parsed_then_they_are_accepted():
    lead = parse_lead(stream_item(lead_id="l" * 128, contractor_id="c" * 128, category="k" * 100))

    assert (len(lead.lead_id), len(lead.contractor_id), len(lead.category)) == (128, 128, 100)


FIELDS = ["lead_id", "contractor_id", "price_cents", "delivered_at", "category"]


@pytest.mark.parametrize("field_name", FIELDS)
def test_r1_given_a_missing_field_when_parsed_then_invalid_lead_names_it(field_name):
    with pytest.raises(InvalidLead) as error:
        parse_lead(without(field_name))

    assert error.value.field == field_name
    assert field_name in str(error.value)


@pytest.mark.parametrize("field_name", FIELDS)
def test_r1_given_a_null_field_when_parsed_then_invalid_lead_names_it(field_name):
    with pytest.raises(InvalidLead) as error:
        parse_lead(stream_item(**{field_name: None}))

    assert error.value.field == field_name


@pytest.mark.parametrize(
    "price",
    [
        pytest.param(Decimal("1.5"), id="non-integer-decimal"),
        pytest.param(Decimal("1500.01"), id="fraction-of-a-cent"),
        pytest.param(1500.0, id="float"),
        pytest.param(1.5, id="fractional-float"),
        pytest.param(Decimal("-100"), id="negative"),
        pytest.param(-100, id="negative-int"),
        pytest.param(Decimal("0"), id="zero"),
        pytest.param(Decimal("-0"), id="minus-zero"),
        pytest.param(Decimal("100001"), id="above-maximum"),
        pytest.param(Decimal(10**30), id="huge"),
        pytest.param(Decimal("1E+30"), id="huge-exponent"),
        pytest.param(Decimal("NaN"), id="nan"),
        pytest.param(Decimal("sNaN"), id="signalling-nan"),
        pytest.param(Decimal("Infinity"), id="infinity"),
        pytest.param(Decimal("-Infinity"), id="minus-infinity"),
        pytest.param("1500", id="string"),
        pytest.param("", id="empty-string"),
        pytest.param(True, id="bool"),
        pytest.param(False, id="false"),
        pytest.param([1500], id="list"),
    ],
)
def test_r1_given_a_price_outside_the_contract_when_parsed_then_invalid_lead_names_the_price(
    price,
):
    with pytest.raises(InvalidLead) as error:
        parse_lead(stream_item(price_cents=price))

    assert error.value.field == "price_cents"
    assert str(error.value).startswith("price_cents:")


@pytest.mark.parametrize(
    "delivered_at",
    [
        pytest.param("yesterday", id="not-a-date"),
        pytest.param("2024-13-01T00:00:00+00:00", id="month-13"),
        pytest.param("2024-02-30T00:00:00+00:00", id="february-30"),
        pytest.param("2024-03-10T25:00:00+00:00", id="hour-25"),
        pytest.param("2024-03-10T08:15:00", id="no-offset"),
        pytest.param("2024-03-10", id="date-only"),
        pytest.param("", id="empty"),
        pytest.param(Decimal("1710080100"), id="epoch-number"),
        pytest.param(datetime(2024, 3, 10, 14, 15, tzinfo=UTC), id="datetime-object"),
    ],
)
def test_r1_given_a_malformed_delivery_time_when_parsed_then_invalid_lead_names_it(delivered_at):
    with pytest.raises(InvalidLead) as error:
        parse_lead(stream_item(delivered_at=delivered_at))

    assert error.value.field == "delivered_at"


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("lead_id", ""),
        ("lead_id", "   "),
        ("lead_id", "l" * 129),
        ("lead_id", 12345),
        ("contractor_id", ""),
        ("contractor_id", "\t"),
        ("contractor_id", "c" * 129),
        ("contractor_id", Decimal("42")),
        ("category", ""),
        ("category", "k" * 101),
        ("category", ["roofing"]),
    ],
)
def test_r1_given_an_empty_long_or_non_text_field_when_parsed_then_invalid_lead_names_it(
    field_name, value
):
    with pytest.raises(InvalidLead) as error:
        parse_lead(stream_item(**{field_name: value}))

    assert error.value.field == field_name
    assert str(error.value).startswith(f"{field_name}:")


def test_r1_given_an_invalid_lead_then_it_is_a_value_error_with_a_message():
    with pytest.raises(ValueError, match=r"^price_cents: .+"):
        parse_lead(stream_item(price_cents=Decimal("0")))

"""Money is integer US cents in an immutable value; no float ever enters a balance."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.billing.money import Money, MoneyError

cents = st.integers(min_value=-(10**12), max_value=10**12)


# --- construction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [1.0, 0.5, float("nan"), True, False, Decimal("5"), "5", None],
    ids=["float", "fraction", "nan", "true", "false", "decimal", "str", "none"],
)
def test_given_anything_but_an_int_when_constructing_money_then_it_is_refused(value):
    # No floats, ever: the constructor takes exact int cents; bool is not a number of cents.
    with pytest.raises(MoneyError):
        Money(value)


def test_given_int_cents_when_constructing_then_the_value_keeps_them_in_usd():
    money = Money(1500)

    assert money.cents == 1500
    assert money.currency == "USD"
    assert Money.zero() == Money(0)


def test_given_money_when_assigning_a_field_then_it_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Money(100).cents = 200  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "expected_cents"),
    [
        (Decimal("1500"), 1500),  # what a DynamoDB stream image carries for N
        (Decimal("1500.00"), 1500),
        (Decimal("1.5E+3"), 1500),
        (Decimal("-25"), -25),
        (1500, 1500),
        ("1500", 1500),
        (" 42 ", 42),
        ("-7", -7),
    ],
)
def test_given_a_whole_number_of_cents_when_parsing_then_it_is_accepted(value, expected_cents):
    assert Money.parse(value) == Money(expected_cents)


@pytest.mark.parametrize(
    "value",
    [
        1500.0,
        0.1,
        True,
        False,
        Decimal("1.5"),
        Decimal("0.01"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "1.5",
        "1,500",
        "",
        "abc",
        None,
        [1500],
    ],
)
def test_given_no_whole_number_of_cents_when_parsing_then_money_error(value):
    with pytest.raises(MoneyError):
        Money.parse(value)


@pytest.mark.parametrize("value", ["²", "①"])
def test_given_a_digit_like_character_when_parsing_then_money_error(value):
    with pytest.raises(MoneyError):
        Money.parse(value)


@given(cents)
def test_given_any_int_when_parsing_it_as_a_decimal_then_the_cents_are_kept(amount):
    assert Money.parse(Decimal(amount)).cents == amount


# --- arithmetic and comparisons ---------------------------------------------------------


def test_given_two_amounts_when_adding_and_subtracting_then_cents_add_and_subtract():
    assert Money(1250) + Money(750) == Money(2000)
    assert Money(1250) - Money(750) == Money(500)
    assert Money(750) - Money(1250) == Money(-500)
    assert -Money(300) == Money(-300)


@given(cents, cents)
def test_given_any_amounts_when_combined_then_they_behave_like_their_cents(a, b):
    assert (Money(a) + Money(b)).cents == a + b
    assert (Money(a) - Money(b)).cents == a - b
    assert (Money(a) < Money(b)) is (a < b)
    assert (Money(a) <= Money(b)) is (a <= b)
    assert (Money(a) > Money(b)) is (a > b)
    assert (Money(a) >= Money(b)) is (a >= b)
    assert (Money(a) == Money(b)) is (a == b)


def test_given_amounts_when_comparing_then_order_follows_cents():
    assert Money(99) < Money(100) <= Money(100) < Money(101)
    assert Money(101) > Money(100) >= Money(100)
    assert max(Money(-5), Money(0)) == Money(0)
    assert sorted([Money(3), Money(-1), Money(2)]) == [Money(-1), Money(2), Money(3)]


def test_given_zero_when_used_as_a_truth_value_then_it_is_false():
    assert not Money(0)
    assert Money(1)
    assert Money(-1)


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
    ids=["add", "sub", "lt", "le", "gt", "ge"],
)
def test_given_two_currencies_when_combined_then_money_error(operation):
    with pytest.raises(MoneyError):
        operation(Money(100), Money(100, "EUR"))


def test_given_two_currencies_when_compared_for_equality_then_they_differ():
    assert Money(100) != Money(100, "EUR")


@pytest.mark.parametrize("other", [100, 1.0, Decimal("100")], ids=["int", "float", "decimal"])
def test_given_a_bare_number_when_combined_with_money_then_type_error(other):
    with pytest.raises(TypeError):
        Money(100) + other
    with pytest.raises(TypeError):
        _ = Money(100) < other


# --- formatting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "$0.00"),
        (5, "$0.05"),
        (99, "$0.99"),
        (100, "$1.00"),
        (1500, "$15.00"),
        (20_000, "$200.00"),  # the threshold the help article quotes
        (123_456, "$1,234.56"),
        (100_000_000, "$1,000,000.00"),
        (-1999, "-$19.99"),
        (-5, "-$0.05"),
    ],
)
def test_given_cents_when_formatted_then_dollars_with_two_decimals(amount, text):
    assert str(Money(amount)) == text


@given(cents)
def test_given_any_cents_when_formatted_then_the_text_reads_back_as_the_same_amount(amount):
    text = str(Money(amount))
    sign = -1 if text.startswith("-") else 1
    digits = text.removeprefix("-").removeprefix("$").replace(",", "")

    assert digits.count(".") == 1 and len(digits.split(".")[1]) == 2
    assert sign * Decimal(digits) * 100 == amount

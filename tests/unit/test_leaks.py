"""The card number and secret finders the whole test run is searched with
(``tests/support/leaks.py``): they find what they must, and not what only looks like it."""

from __future__ import annotations

import pytest

from tests.support.leaks import card_numbers, email_leaks, leaks, luhn_valid, masked, secrets

# Stripe's test cards, one per network, and how people write them.
CARDS = [
    "4242424242424242",  # Visa
    "4000056655665556",  # Visa debit
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express
    "6011111111111117",  # Discover
    "3566002020360505",  # JCB
    "36227206271667",  # Diners Club, 14 digits
    "6200000000000005",  # UnionPay
    "4242 4242 4242 4242",
    "4000-0000-0000-0341",
]


@pytest.mark.parametrize("card", CARDS)
def test_a_card_number_is_found_in_a_log_line(card: str) -> None:
    line = f'{{"level":"INFO","message":"card saved","number":"{card}","x":1}}'
    assert card_numbers(line) == [card]


@pytest.mark.parametrize(
    "text",
    [
        '"Timestamp":1795850221204',  # epoch milliseconds: Luhn-valid by chance
        "sequence 49650000000000000000000000000001",  # a stream sequence number
        "4242424242424241",  # a Visa-shaped run that fails the Luhn check
        "424242424242",  # 12 digits
        "pm_4242424242424242x",  # inside an id
        "lead-4242424242424242",  # part of another id
        "amount_cents 100000 spent 4500",
        "5105105105105100 0",  # followed by more digits: part of a longer run
    ],
)
def test_what_only_looks_like_a_card_number_is_not_one(text: str) -> None:
    assert card_numbers(text) == []


def test_the_luhn_check() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


@pytest.mark.parametrize(
    "secret",
    [
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "rk_live_51Habcdefghijk",
        "whsec_Zm9vYmFyYmF6cXV4",
        "seti_1NqAbc2eZvKYlo2C_secret_OqAbcDef",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjLTEifQ.c2lnbmF0dXJlLWJ5dGVz",
    ],
)
def test_a_secret_is_found(secret: str) -> None:
    assert secrets(f"request failed: {secret} refused") == [secret]


def test_a_configured_secret_of_any_shape_is_found() -> None:
    assert secrets("key=local-webhook-secret-123", known=["local-webhook-secret-123"]) == [
        "local-webhook-secret-123"
    ]


def test_ids_that_name_no_secret_are_not_secrets() -> None:
    assert secrets("seti_1NqAbc2eZvKYlo2C pi_3Mabc cus_Nabc pm_card_visa evt_1 sk_") == []


def test_a_leak_shows_only_the_ends_of_what_leaked() -> None:
    [leak] = leaks("stdout of test_x", "pan 4242424242424242")
    assert str(leak) == "card number 424242…4242 in stdout of test_x"
    assert masked("short") == "short"


def test_a_test_whose_output_carries_a_card_number_fails_naming_it_masked(
    pytester: pytest.Pytester,
) -> None:
    # Given this run's check, and a test that logs a card number as a function might
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport  # noqa: F401")
    pytester.makepyfile(
        test_leaky="""
        import json

        def test_logs_a_card():
            print(json.dumps({"level": "INFO", "message": "saved", "card": "4242424242424242"}))

        def test_logs_a_secret():
            print("calling Stripe with sk_test_payments")

        def test_logs_nothing_of_the_kind():
            print("card visa ending 4242, expires 12/2030")
        """
    )
    # When it runs (quietly: its output would be this test's own)
    run = pytester.inline_run("-p", "no:cacheprovider", "-p", "no:terminal")
    # Then the two leaking tests fail at teardown, showing only the ends of what leaked
    failed = {
        report.nodeid: str(report.longrepr)
        for report in run.getreports("pytest_runtest_logreport")
        if report.when == "teardown" and report.failed
    }
    assert failed == {
        "test_leaky.py::test_logs_a_card": "card numbers or secrets leaked:\n"
        "  card number 424242…4242 in Captured stdout call of test_leaky.py::test_logs_a_card",
        "test_leaky.py::test_logs_a_secret": "card numbers or secrets leaked:\n"
        "  secret sk_tes…ents in Captured stdout call of test_leaky.py::test_logs_a_secret",
    }
    run.assertoutcome(passed=3, failed=2)


def test_a_multipart_boundary_of_luhn_valid_digits_is_not_a_card_number() -> None:
    # The email package draws a boundary of 19 random digits; 4000000000000000006 is a
    # Luhn-valid 19-digit Visa number, and not what the email says.
    boundary = "===============4000000000000000006=="
    assert card_numbers(boundary)
    raw = (
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n'
        "Subject: Your budget reached 75 %\n\n"
        f"--{boundary}\nContent-Type: text/plain\n\nYou spent $75.00.\n--{boundary}--\n"
    )
    assert email_leaks([raw]) == []
    # while a card number in the text is still found
    assert email_leaks([raw.replace("$75.00", "4242 4242 4242 4242")])

"""Lambda event filtering and EventBridge patterns, as the local stack applies them."""

from __future__ import annotations

from typing import Any

import pytest

from local.filters import FilterPattern, FilterPatternError

pytestmark = pytest.mark.e2e


def record(event_name: str = "INSERT", **image: Any) -> dict[str, Any]:
    """A DynamoDB stream record as Lambda shapes it, with a NewImage of string attributes
    (``price=N:4500`` for a number)."""
    new_image = {}
    for key, value in image.items():
        kind, _, text = value.partition(":") if value.startswith("N:") else ("S", "", value)
        new_image[key] = {kind: text}
    return {
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"lead_id": {"S": "l1"}}, "NewImage": new_image},
    }


def matches(pattern: Any, event: dict[str, Any]) -> bool:
    return FilterPattern.parse(pattern).matches(event)


def test_exact_values_must_all_match():
    pattern = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["delivered"]}}}}
    assert matches(pattern, record(status="delivered"))
    assert not matches(pattern, record(status="pending"))
    assert not matches(pattern, record("MODIFY", status="delivered"))


def test_a_pattern_given_as_a_json_string_is_parsed():
    pattern = '{"eventName": ["INSERT", "MODIFY"]}'
    assert matches(pattern, record("MODIFY"))
    assert not matches(pattern, record("REMOVE"))


def test_string_operators():
    image = {"dynamodb": {"NewImage": {"category": {"S": ["roofing"]}}}}
    event = record(category="Roofing-Repair")
    assert matches({"dynamodb": {"NewImage": {"category": {"S": [{"prefix": "Roof"}]}}}}, event)
    assert not matches({"dynamodb": {"NewImage": {"category": {"S": [{"prefix": "roof"}]}}}}, event)
    assert matches(
        {
            "dynamodb": {
                "NewImage": {"category": {"S": [{"prefix": {"equals-ignore-case": "roof"}}]}}
            }
        },
        event,
    )
    assert matches({"dynamodb": {"NewImage": {"category": {"S": [{"suffix": "Repair"}]}}}}, event)
    assert matches(
        {"dynamodb": {"NewImage": {"category": {"S": [{"equals-ignore-case": "roofing-repair"}]}}}},
        event,
    )
    assert matches(
        {"dynamodb": {"NewImage": {"category": {"S": [{"wildcard": "Roof*Rep*"}]}}}}, event
    )
    assert not matches(image, event)


def test_anything_but_needs_the_field_and_a_different_value():
    pattern = {"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": ["void", "test"]}]}}}}
    assert matches(pattern, record(status="delivered"))
    assert not matches(pattern, record(status="void"))
    assert not matches(pattern, record())  # no status at all
    by_prefix = {"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": {"prefix": "te"}}]}}}}
    assert matches(by_prefix, record(status="delivered"))
    assert not matches(by_prefix, record(status="test"))


def test_numeric_ranges_match_numbers_only():
    pattern = {"detail": {"amount_cents": [{"numeric": [">", 0, "<=", 20000]}]}}
    assert matches(pattern, {"detail": {"amount_cents": 20000}})
    assert matches(pattern, {"detail": {"amount_cents": 0.5}})
    assert not matches(pattern, {"detail": {"amount_cents": 20001}})
    assert not matches(pattern, {"detail": {"amount_cents": 0}})
    # DynamoDB's N values are strings in a stream record: a numeric filter does not see them.
    assert not matches(pattern, {"detail": {"amount_cents": "100"}})
    assert matches({"detail": {"n": [{"numeric": ["=", 3]}]}}, {"detail": {"n": 3.0}})


def test_exact_numbers_compare_as_numbers_and_booleans_are_not_numbers():
    assert matches({"n": [300]}, {"n": 300.0})
    assert not matches({"n": [1]}, {"n": True})
    assert matches({"flag": [True]}, {"flag": True})


def test_exists_looks_at_leaves():
    has_old = {"dynamodb": {"OldImage": {"status": {"S": [{"exists": True}]}}}}
    no_old = {"dynamodb": {"OldImage": {"status": {"S": [{"exists": False}]}}}}
    event = record(status="delivered")
    assert not matches(has_old, event)
    assert matches(no_old, event)
    event["dynamodb"]["OldImage"] = {"status": {"S": "pending"}}
    assert matches(has_old, event)
    assert not matches(no_old, event)
    # An object is not a leaf.
    assert not matches({"dynamodb": {"NewImage": [{"exists": True}]}}, event)


def test_null_and_empty_string():
    assert matches({"a": [None]}, {"a": None})
    assert not matches({"a": [None]}, {})
    assert matches({"a": [""]}, {"a": ""})


def test_or_of_sub_patterns():
    pattern = {"$or": [{"eventName": ["REMOVE"]}, {"dynamodb": {"NewImage": {"x": {"S": ["1"]}}}}]}
    assert matches(pattern, record("REMOVE"))
    assert matches(pattern, record(x="1"))
    assert not matches(pattern, record(x="2"))


def test_an_array_in_the_event_matches_when_any_element_does():
    assert matches(
        {"resources": [{"prefix": "arn:aws:dynamodb"}]},
        {"resources": ["arn:aws:s3:::b", "arn:aws:dynamodb:t"]},
    )
    assert matches({"items": {"kind": ["b"]}}, {"items": [{"kind": "a"}, {"kind": "b"}]})


def test_cidr():
    assert matches({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.0.7"})
    assert not matches({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.1.7"})


@pytest.mark.parametrize(
    "pattern",
    [
        {"eventName": [{"regex": "IN.*"}]},  # not an operator of Lambda or EventBridge
        {"eventName": [{"prefix": "A", "suffix": "B"}]},
        {"eventName": "INSERT"},  # leaves must be arrays
        {"eventName": []},
        {"n": [{"numeric": ["~", 1]}]},
        {"n": [{"numeric": [">", "1"]}]},
        {"n": [{"exists": "yes"}]},
        {"n": [{"anything-but": {"regex": "x"}}]},
        {"n": [["nested"]]},
        {"$or": [{"a": ["1"]}]},
        {},
        "not json",
        '["a list"]',
    ],
)
def test_patterns_the_matcher_does_not_implement_are_refused(pattern):
    with pytest.raises(FilterPatternError):
        FilterPattern.parse(pattern)


def test_top_level_keys_include_those_under_or():
    pattern = FilterPattern.parse({"event_name": ["INSERT"], "$or": [{"a": [1]}, {"b": [2]}]})
    assert pattern.top_level_keys() == {"event_name", "a", "b"}

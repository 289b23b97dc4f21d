"""Event patterns, matched the way Lambda event filtering and EventBridge rules match them.

A pattern is a JSON object whose leaves are arrays of matchers; every key must match
(AND), the matchers of one array are alternatives (OR), and ``$or`` lists alternative
sub-patterns. A leaf of the event that is an array matches when any element matches.
Only leaves (not objects) are matched, so ``exists`` is about leaves too.

Supported matchers: exact values (strings, numbers compared as numbers, booleans, null),
``prefix``, ``suffix``, ``equals-ignore-case``, ``wildcard``, ``anything-but`` (values, or
prefix/suffix/equals-ignore-case/wildcard), ``numeric`` (``=``, ``<``, ``<=``, ``>``,
``>=``, combined as AND), ``exists`` and ``cidr``. Any other operator is refused when the
pattern is parsed, so a pattern the local stack does not understand fails at start rather
than silently filtering differently.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.template import TemplateError


class FilterPatternError(TemplateError):
    """The pattern uses an operator or a shape the matcher does not implement."""


_NUMERIC_OPERATORS = {"=", "<", "<=", ">", ">="}
_STRING_OPERATORS = {"prefix", "suffix", "equals-ignore-case", "wildcard"}
_OPERATORS = _STRING_OPERATORS | {"anything-but", "numeric", "exists", "cidr"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class FilterPattern:
    pattern: Mapping[str, Any]

    @classmethod
    def parse(cls, raw: str | Mapping[str, Any], where: str = "pattern") -> FilterPattern:
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise FilterPatternError(f"{where}: not JSON: {exc}") from exc
        if not isinstance(raw, Mapping):
            raise FilterPatternError(f"{where}: a pattern is a JSON object")
        _validate_object(raw, where)
        return cls(raw)

    def top_level_keys(self) -> set[str]:
        keys: set[str] = set()
        _collect_keys(self.pattern, keys)
        return keys

    def matches(self, event: Mapping[str, Any]) -> bool:
        return _match_object(self.pattern, [event])


def _collect_keys(pattern: Mapping[str, Any], keys: set[str]) -> None:
    for key, value in pattern.items():
        if key == "$or":
            for alternative in value:
                _collect_keys(alternative, keys)
        else:
            keys.add(key)


# ------------------------------------------------------------------------ validation


def _validate_object(pattern: Mapping[str, Any], where: str) -> None:
    if not pattern:
        raise FilterPatternError(f"{where}: empty pattern object")
    for key, value in pattern.items():
        here = f"{where}.{key}"
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise FilterPatternError(f"{here}: $or takes a list of at least two patterns")
            for index, alternative in enumerate(value):
                if not isinstance(alternative, Mapping):
                    raise FilterPatternError(f"{here}[{index}]: expected a pattern object")
                _validate_object(alternative, f"{here}[{index}]")
        elif isinstance(value, Mapping):
            _validate_object(value, here)
        elif isinstance(value, list):
            if not value:
                raise FilterPatternError(f"{here}: empty list of matchers")
            for matcher in value:
                _validate_matcher(matcher, here)
        else:
            raise FilterPatternError(f"{here}: a leaf must be a list of matchers, got {value!r}")


def _validate_matcher(matcher: Any, where: str) -> None:
    if matcher is None or isinstance(matcher, str | bool) or _is_number(matcher):
        return
    if not isinstance(matcher, Mapping) or len(matcher) != 1:
        raise FilterPatternError(f"{where}: unsupported matcher {matcher!r}")
    ((operator, argument),) = matcher.items()
    if operator not in _OPERATORS:
        raise FilterPatternError(f"{where}: unsupported filter operator {operator!r}")
    if operator in ("prefix", "suffix"):
        if isinstance(argument, Mapping):
            if set(argument) != {"equals-ignore-case"} or not isinstance(
                argument["equals-ignore-case"], str
            ):
                raise FilterPatternError(f"{where}: unsupported {operator} {argument!r}")
        elif not isinstance(argument, str):
            raise FilterPatternError(f"{where}: {operator} takes a string")
    elif operator in ("equals-ignore-case", "wildcard", "cidr"):
        if not isinstance(argument, str):
            raise FilterPatternError(f"{where}: {operator} takes a string")
        if operator == "cidr":
            try:
                ipaddress.ip_network(argument, strict=False)
            except ValueError as exc:
                raise FilterPatternError(f"{where}: bad cidr {argument!r}") from exc
    elif operator == "exists":
        if not isinstance(argument, bool):
            raise FilterPatternError(f"{where}: exists takes true or false")
    elif operator == "numeric":
        _validate_numeric(argument, where)
    elif operator == "anything-but":
        if isinstance(argument, Mapping):
            if len(argument) != 1 or next(iter(argument)) not in _STRING_OPERATORS:
                raise FilterPatternError(f"{where}: unsupported anything-but {argument!r}")
            inner = next(iter(argument.values()))
            if not (
                isinstance(inner, str)
                or (isinstance(inner, list) and all(isinstance(i, str) for i in inner))
            ):
                raise FilterPatternError(f"{where}: unsupported anything-but {argument!r}")
        elif isinstance(argument, list):
            if not argument or not all(
                isinstance(item, str) or _is_number(item) for item in argument
            ):
                raise FilterPatternError(f"{where}: anything-but takes strings or numbers")
        elif not (isinstance(argument, str) or _is_number(argument)):
            raise FilterPatternError(f"{where}: unsupported anything-but {argument!r}")


def _validate_numeric(argument: Any, where: str) -> None:
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise FilterPatternError(f"{where}: numeric takes one or two (operator, number) pairs")
    for index in range(0, len(argument), 2):
        operator, value = argument[index], argument[index + 1]
        if operator not in _NUMERIC_OPERATORS or not _is_number(value):
            raise FilterPatternError(f"{where}: bad numeric comparison {operator!r} {value!r}")
    if len(argument) == 4 and "=" in (argument[0], argument[2]):
        raise FilterPatternError(f"{where}: numeric '=' cannot be combined")


# ------------------------------------------------------------------------ matching


def _match_object(pattern: Mapping[str, Any], nodes: list[Any]) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_match_object(alternative, nodes) for alternative in expected):
                return False
            continue
        children: list[Any] = []
        for node in nodes:
            if isinstance(node, Mapping) and key in node:
                value = node[key]
                children.extend(value if isinstance(value, list) else [value])
        if isinstance(expected, Mapping):
            if not _match_object(expected, [c for c in children if isinstance(c, Mapping)]):
                return False
        else:
            leaves = [c for c in children if not isinstance(c, Mapping | list)]
            if not any(_match_leaf(matcher, leaves) for matcher in expected):
                return False
    return True


def _match_leaf(matcher: Any, leaves: list[Any]) -> bool:
    if isinstance(matcher, Mapping):
        ((operator, argument),) = matcher.items()
        if operator == "exists":
            return bool(leaves) == argument
        return any(_match_operator(operator, argument, leaf) for leaf in leaves)
    return any(_equal(matcher, leaf) for leaf in leaves)


def _equal(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if _is_number(expected) and _is_number(actual):
        return float(expected) == float(actual)
    return type(expected) is type(actual) and bool(expected == actual)


def _string_test(operator: str, argument: Any, value: str) -> bool:
    if isinstance(argument, Mapping):  # {"prefix": {"equals-ignore-case": "x"}}
        text = str(argument["equals-ignore-case"]).casefold()
        value = value.casefold()
    else:
        text = argument
    if operator == "prefix":
        return value.startswith(text)
    if operator == "suffix":
        return value.endswith(text)
    if operator == "equals-ignore-case":
        return value.casefold() == str(text).casefold()
    if operator == "wildcard":
        regex = ".*".join(re.escape(part) for part in str(text).split("*"))
        return re.fullmatch(regex, value, flags=re.DOTALL) is not None
    raise FilterPatternError(f"unsupported string operator {operator!r}")


def _match_operator(operator: str, argument: Any, leaf: Any) -> bool:
    if operator in _STRING_OPERATORS:
        return isinstance(leaf, str) and _string_test(operator, argument, leaf)
    if operator == "numeric":
        if not _is_number(leaf):
            return False
        return all(
            _compare(argument[i], float(leaf), float(argument[i + 1]))
            for i in range(0, len(argument), 2)
        )
    if operator == "anything-but":
        if isinstance(argument, Mapping):
            ((inner_operator, inner),) = argument.items()
            values = inner if isinstance(inner, list) else [inner]
            return isinstance(leaf, str) and not any(
                _string_test(inner_operator, value, leaf) for value in values
            )
        values = argument if isinstance(argument, list) else [argument]
        return not any(_equal(value, leaf) for value in values)
    if operator == "cidr":
        try:
            return ipaddress.ip_address(leaf) in ipaddress.ip_network(argument, strict=False)
        except (TypeError, ValueError):
            return False
    raise FilterPatternError(f"unsupported filter operator {operator!r}")


def _compare(operator: str, left: float, right: float) -> bool:
    if operator == "=":
        return left == right
    if operator == "<":
        return left < right
    if operator == "<=":
        return left <= right
    if operator == ">":
        return left > right
    return left >= right

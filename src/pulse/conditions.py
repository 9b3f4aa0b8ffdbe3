"""User-written conditions: CEL expressions compiled once, evaluated per event.

A condition sees only the names it uses: building the `contact` view costs
window counts, so it is built only for conditions that mention `contact`. A
condition that fails at run time (a missing field, a type mismatch) does not
hold; it never stops the flow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import cel

__all__ = [
    "CONDITION_FUNCTIONS",
    "CONDITION_VARIABLES",
    "CONTACT_FIELDS",
    "Condition",
    "compile_condition",
    "lint_condition",
    "unknown_props",
]

CONDITION_VARIABLES = frozenset({"type", "ts", "props", "contact"})
"""Names a condition may use: the event's `type`, `ts` (epoch ms), `props`, and `contact`."""

CONTACT_FIELDS = frozenset(
    {
        "score",
        "stage",
        "purchases",
        "revenue",
        "cart_value",
        "events_24h",
        "events_7d",
        "events_30d",
    }
)
"""Fields of `contact` (see `scoring.contact_view`; a test keeps the two in step)."""

KNOWN_PROPS = frozenset(
    {"product_id", "price", "quantity", "cart_value", "order_id", "revenue", "channel"}
)
"""The `props` pulse itself reads and type-checks at the edge; others are free-form."""

CONDITION_FUNCTIONS = frozenset(
    {
        "size", "int", "uint", "double", "string", "bytes", "type", "dyn", "duration",
        "timestamp", "matches", "startsWith", "endsWith", "contains", "getFullYear",
        "getMonth", "getDate", "getDayOfMonth", "getDayOfYear", "getDayOfWeek", "getHours",
        "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip
"""Named functions the CEL runtime provides (operators aside); measured, not assumed:
`max`, `bool`, `lowerAscii`, `split`... compile but fail on every evaluation."""


class Condition:
    """A compiled CEL condition and the variables it references."""

    __slots__ = ("_program", "functions", "needs_contact", "source", "variables")

    def __init__(self, program: Any, source: str) -> None:
        self._program = program
        self.source = source
        self.variables = frozenset(program.variables())
        self.functions = frozenset(program.functions())
        self.needs_contact = "contact" in self.variables

    def evaluate(self, variables: dict[str, Any]) -> bool:
        """Whether the condition holds for these variables; errors count as false.

        >>> compile_condition("props.price >= 100.0").evaluate({"props": {"price": 120.0}})
        True
        >>> compile_condition("props.price >= 100.0").evaluate({"props": {}})
        False
        """
        try:
            return self._program.execute(variables) is True
        except (ValueError, TypeError, RuntimeError, KeyError, OverflowError):
            return False


def compile_condition(source: str) -> Condition:
    """Compile a CEL expression; raises `ValueError` with the parser's message."""
    return Condition(cel.compile(source), source)


_STRING = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')
_LITERAL = r"\x00(\d+)\x00"
_NAME = r"(?<![\w.])"
_CONTACT_FIELD = re.compile(
    _NAME + r"contact\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*" + _LITERAL + r"\s*\])"
)
_TYPE_EQ = re.compile(
    _NAME + r"type\s*==\s*" + _LITERAL + "|" + _LITERAL + r"\s*==\s*type\b(?!\s*\()"
)
_TYPE_IN = re.compile(_NAME + r"type\s+in\s*\[([^\]]*)\]")


def lint_condition(condition: Condition, event_type: str, known_types: frozenset[str]) -> list[str]:
    """Static checks of a compiled condition on a rule for `event_type`.

    Catches what compiles but can never hold: a function the runtime lacks, a
    `contact` field that does not exist, `type` compared with an unknown type or
    with a type the rule never sees (a rule only sees events of its own type).

    >>> typo = compile_condition("contact.scroe > 3.0")
    >>> lint_condition(typo, "page_view", frozenset())  # doctest: +ELLIPSIS
    ['condition uses unknown field `contact.scroe`; `contact` has ...']
    >>> on_views = compile_condition('type == "purchase"')
    >>> lint_condition(on_views, "page_view", frozenset({"purchase", "page_view"}))[0][:41]
    'condition compares `type` with `purchase`'
    """
    found: list[str] = []
    for name in sorted(condition.functions - CONDITION_FUNCTIONS):
        if name[0].isalpha():  # operators are spelled `_&&_`, `@in`, `!_`
            found.append(f"condition calls unknown function `{name}`: it never holds")
    literals: list[str] = []
    # String literals become numbered placeholders so their contents are not read as code.
    code = _STRING.sub(lambda m: _placeholder(m.group()[1:-1], literals), condition.source)
    for field, index in _CONTACT_FIELD.findall(code):
        name = field or (literals[int(index)] if index else "")
        if name and name not in CONTACT_FIELDS:
            allowed = ", ".join(f"`{n}`" for n in sorted(CONTACT_FIELDS))
            found.append(f"condition uses unknown field `contact.{name}`; `contact` has {allowed}")
    for compared in _compared_types(code, literals):
        unknown = [name for name in compared if name not in known_types]
        for name in unknown:
            found.append(f"condition compares `type` with unknown event type `{name}`")
        if not unknown and event_type not in compared:
            names = " or ".join(f"`{name}`" for name in compared)
            found.append(
                f"condition compares `type` with {names}, but the rule only sees "
                f"`{event_type}` events: it never holds"
            )
    return found


_PROPS_FIELD = re.compile(_NAME + r"props\s*\.\s*([A-Za-z_]\w*)")


def unknown_props(condition: Condition) -> list[str]:
    """`props.` fields a condition reads that pulse does not know: likely typos, maybe not.

    >>> unknown_props(compile_condition("double(props.prcie) > 1.0 && has(props.price)"))
    ['prcie']
    """
    code = _STRING.sub('""', condition.source)
    found = dict.fromkeys(_PROPS_FIELD.findall(code))
    return [name for name in found if name not in KNOWN_PROPS]


def _compared_types(code: str, literals: list[str]) -> Iterator[list[str]]:
    """Per comparison of `type` (`==` or `in [...]`), the type names it accepts."""
    for left, right in _TYPE_EQ.findall(code):
        yield [literals[int(left or right)]]
    for members in _TYPE_IN.findall(code):
        yield [literals[int(index)] for index in re.findall(_LITERAL, members)]


def _placeholder(text: str, literals: list[str]) -> str:
    literals.append(text)
    return f"\x00{len(literals) - 1}\x00"

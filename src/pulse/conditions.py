"""User-written conditions: CEL expressions compiled once, evaluated per event.

A condition sees only the names it uses: building the `contact` view costs
window counts, so it is built only for conditions that mention `contact`. A
condition that fails at run time (a missing field, a type mismatch) does not
hold; it never stops the flow.

A condition's cost per event is bounded before it is compiled (`condition_cost`):
the CEL runtime has no evaluation budget, and one nested comprehension can cost
seconds per event. Measured on the `common-expression-language` runtime: three
nested `all` over 200-element lists take 2.2 s; `map` and `filter` grow with the
square of their list (10,000 items: 5 s); reading `props` inside a comprehension
copies it on every step (10,000 items: 7 s). So a condition is at most
`MAX_CONDITION_CHARS` long and `MAX_CONDITION_DEPTH` brackets deep, uses only
`all`, `exists` and `exists_one`, never one inside another, and never reads
`props` inside one. Within these bounds an evaluation over the largest event
(`pulse.events.MAX_PROPS_VALUES`) costs milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import cel

from pulse.suggest import did_you_mean

__all__ = [
    "CONDITION_FUNCTIONS",
    "CONDITION_VARIABLES",
    "CONTACT_FIELDS",
    "MAX_CONDITION_CHARS",
    "MAX_CONDITION_DEPTH",
    "Condition",
    "compile_condition",
    "condition_cost",
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
        "traits",
    }
)
"""Fields of `contact` (see `scoring.contact_view`; a test keeps the two in step).
`traits` is a map: `contact.traits.<name>` (see `pulse.traits.trait_view`)."""

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


MAX_CONDITION_CHARS = 1000
"""Longest condition accepted (the default pack's longest is 29 characters)."""
MAX_CONDITION_DEPTH = 32
"""Deepest nesting of brackets in a condition."""

_ALLOWED_MACROS = frozenset({"all", "exists", "exists_one"})
_MACRO = re.compile(r"\.\s*(all|exists_one|exists|map|filter)\s*\(")
_BOUND = re.compile(r"\.\s*(?:all|exists_one|exists|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_PROPS = re.compile(r"(?<![\w.])props\b")


_NUMBER_PROPS = ("price", "quantity", "cart_value", "revenue")
"""Props the decoder guarantees are finite numbers when present (see `pulse.events`)."""
_SIMPLE = re.compile(
    r"^\s*double\(\s*props\.(" + "|".join(_NUMBER_PROPS) + r")\s*\)\s*"
    r"(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$"
)
_COMPARE: dict[str, Any] = {
    ">=": float.__ge__, "<=": float.__le__, ">": float.__gt__,
    "<": float.__lt__, "==": float.__eq__, "!=": float.__ne__,
}  # fmt: skip


class _NumberComparison:
    """`double(props.<number prop>) <op> <literal>` without the CEL runtime.

    The commonest condition (the default pack's premium view) costs ~15 us in CEL
    and well under 1 us here; the decoder guarantees these props are finite
    numbers when present, so the answer is CEL's (a missing prop does not hold).
    """

    __slots__ = ("_compare", "_limit", "_prop")

    def __init__(self, prop: str, op: str, literal: str) -> None:
        self._prop, self._compare, self._limit = prop, _COMPARE[op], float(literal)

    def __call__(self, variables: dict[str, Any]) -> bool:
        value = variables["props"].get(self._prop)
        if value is None or isinstance(value, bool):
            return False
        return bool(self._compare(float(value), self._limit))


class Condition:
    """A compiled CEL condition and the variables it references."""

    __slots__ = (
        "_fast",
        "_program",
        "bound",
        "functions",
        "needs_contact",
        "source",
        "variables",
    )

    def __init__(self, program: Any, source: str) -> None:
        self._program = program
        match = _SIMPLE.match(source)
        self._fast = _NumberComparison(*match.groups()) if match else None
        self.source = source
        self.variables = frozenset(program.variables())
        self.functions = frozenset(program.functions())
        self.bound = frozenset(_BOUND.findall(code_of(source)))
        """Names a comprehension binds (`i` in `props.items.exists(i, ...)`)."""
        self.needs_contact = "contact" in self.variables

    def evaluate(self, variables: dict[str, Any]) -> bool:
        """Whether the condition holds for these variables; errors count as false.

        >>> compile_condition("props.price >= 100.0").evaluate({"props": {"price": 120.0}})
        True
        >>> compile_condition("props.price >= 100.0").evaluate({"props": {}})
        False
        """
        if self._fast is not None:
            return self._fast(variables)
        try:
            return self._program.execute(variables) is True
        except (ValueError, TypeError, RuntimeError, KeyError, OverflowError):
            return False


def compile_condition(source: str) -> Condition:
    """Compile a CEL expression; raises `ValueError` with the parser's message, or
    saying which cost bound it breaks (see `condition_cost`)."""
    costly = condition_cost(source)
    if costly:
        raise ValueError(costly[0])
    return Condition(cel.compile(source), source)


def condition_cost(source: str) -> list[str]:
    """Why evaluating `source` could cost too much per event; empty when it is bounded.

    >>> condition_cost("props.items.exists(i, double(i.price) > 100.0)")
    []
    >>> condition_cost("[1, 2].all(x, [1, 2].all(y, x < y))")  # doctest: +ELLIPSIS
    ['a comprehension (`all`) inside another (`all`): ...']
    >>> condition_cost("props.items.map(i, i)")  # doctest: +ELLIPSIS
    ['`map` costs the square of its list ...']
    """
    found: list[str] = []
    if len(source) > MAX_CONDITION_CHARS:
        found.append(f"{len(source):,} characters long; at most {MAX_CONDITION_CHARS:,} accepted")
        return found
    code = code_of(source)
    stack: list[str | None] = []
    depth_reported = False
    position = 0
    while position < len(code):
        char = code[position]
        macro = _MACRO.match(code, position)
        if macro:
            name = macro.group(1)
            if name not in _ALLOWED_MACROS:
                found.append(
                    f"`{name}` costs the square of its list in the CEL runtime (10,000 items: "
                    "5 s per event); use `exists`, `all` or `exists_one`"
                )
            if any(opened is not None for opened in stack):
                outer = next(opened for opened in reversed(stack) if opened is not None)
                found.append(
                    f"a comprehension (`{name}`) inside another (`{outer}`): the cost multiplies "
                    "by the size of each list; write them one after the other with `&&`"
                )
            stack.append(name)
            position = macro.end()
            continue
        if char in "([{":
            stack.append(None)
        elif char in ")]}" and stack:
            stack.pop()
        elif char == "p" and _PROPS.match(code, position) and any(o is not None for o in stack):
            found.append(
                "`props` read inside a comprehension: it is copied at every step "
                "(10,000 items: 7 s per event); iterate over the list and use its variable"
            )
        if len(stack) > MAX_CONDITION_DEPTH and not depth_reported:
            found.append(f"brackets nest deeper than {MAX_CONDITION_DEPTH} levels")
            depth_reported = True
        position += 1
    return list(dict.fromkeys(found))


def code_of(source: str) -> str:
    """A CEL expression with its string literals emptied and its comments removed.

    Handles raw (`r'...'`, where a backslash escapes nothing), bytes and
    triple-quoted literals, so text inside a string is never read as code.

    >>> code_of("r'a\\' + x.all(y, '.all(') // .map(")
    "r'' + x.all(y, '') "
    """
    out: list[str] = []
    position, size = 0, len(source)
    while position < size:
        char = source[position]
        if source.startswith("//", position):
            end = source.find("\n", position)
            position = size if end < 0 else end
            continue
        if char not in "'\"":
            out.append(char)
            position += 1
            continue
        prefix = ""
        for back in range(len(out) - 1, max(len(out) - 3, -1), -1):
            if out[back] in "rRbB":
                prefix = out[back] + prefix
            else:
                break
        before = len(out) - len(prefix) - 1
        is_raw = "r" in prefix.lower() and (before < 0 or not (out[before].isalnum() or
                                                             out[before] == "_"))  # fmt: skip
        quote = char * 3 if source.startswith(char * 3, position) else char
        position += len(quote)
        while position < size and not source.startswith(quote, position):
            position += 2 if source[position] == "\\" and not is_raw else 1
        position += len(quote)
        out.append(quote[0] * 2)
    return "".join(out)


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
            found.append(
                f"condition calls unknown function `{name}`: it never holds"
                + did_you_mean(name, CONDITION_FUNCTIONS)
            )
    literals: list[str] = []
    # String literals become numbered placeholders so their contents are not read as code.
    code = _STRING.sub(lambda m: _placeholder(m.group()[1:-1], literals), condition.source)
    for field, index in _CONTACT_FIELD.findall(code):
        name = field or (literals[int(index)] if index else "")
        if name and name not in CONTACT_FIELDS:
            allowed = ", ".join(f"`{n}`" for n in sorted(CONTACT_FIELDS))
            found.append(
                f"condition uses unknown field `contact.{name}`; `contact` has {allowed}"
                + did_you_mean(name, CONTACT_FIELDS)
            )
    for compared in _compared_types(code, literals):
        unknown = [name for name in compared if name not in known_types]
        for name in unknown:
            found.append(
                f"condition compares `type` with unknown event type `{name}`"
                + did_you_mean(name, known_types)
            )
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

"""User-written conditions: CEL expressions compiled once, evaluated per event.

A condition sees only the names it uses: building the `contact` view costs
window counts, so it is built only for conditions that mention `contact`. A
condition that fails at run time (a missing field, a type mismatch) does not
hold; it never stops the flow.
"""

from __future__ import annotations

from typing import Any

import cel

__all__ = ["CONDITION_VARIABLES", "Condition", "compile_condition"]

CONDITION_VARIABLES = frozenset({"type", "ts", "props", "contact"})
"""Names a condition may use: the event's `type`, `ts` (epoch ms), `props`, and `contact`."""


class Condition:
    """A compiled CEL condition and the variables it references."""

    __slots__ = ("_program", "needs_contact", "source", "variables")

    def __init__(self, program: Any, source: str) -> None:
        self._program = program
        self.source = source
        self.variables = frozenset(program.variables())
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
        except (ValueError, TypeError, RuntimeError, KeyError):
            return False


def compile_condition(source: str) -> Condition:
    """Compile a CEL expression; raises `ValueError` with the parser's message."""
    return Condition(cel.compile(source), source)

"""Rule evaluation: CEL conditions and built-in points."""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pulse.conditions import compile_condition
from pulse.contact import ContactState
from pulse.events import Event
from pulse.rules import Rules
from pulse.scoring import add_points, contact_view

EVALUATIONS = 1000


def _product_views(events: list[Event]) -> list[Event]:
    views = [e for e in events if e.type == "product_view" and "price" in e.props]
    assert views, "the generated batch holds product views with a price"
    return views


@pytest.mark.benchmark(group="rules")
def test_cel_condition_on_event(benchmark: BenchmarkFixture, events: list[Event]) -> None:
    """The default pack's `double(props.price) >= 200.0` on product views (flat context)."""
    condition = compile_condition("double(props.price) >= 200.0")
    contexts = [{"type": e.type, "ts": e.ts_ms, "props": e.props} for e in _product_views(events)]
    contexts = (contexts * (EVALUATIONS // len(contexts) + 1))[:EVALUATIONS]
    benchmark.extra_info["items"] = EVALUATIONS

    results = benchmark(lambda: [condition.evaluate(c) for c in contexts])

    assert len(results) == EVALUATIONS


@pytest.mark.benchmark(group="rules")
def test_cel_condition_on_contact(
    benchmark: BenchmarkFixture,
    events: list[Event],
    fresh_states: dict[str, ContactState],
    rules: Rules,
) -> None:
    """A condition that needs `contact`: building the contact view costs window counts."""
    condition = compile_condition("contact.events_24h >= 3 && double(props.price) >= 50.0")
    assert condition.needs_contact
    pairs = [(e, fresh_states[e.key]) for e in _product_views(events) if e.key in fresh_states]
    pairs = (pairs * (EVALUATIONS // len(pairs) + 1))[:EVALUATIONS]
    benchmark.extra_info["items"] = EVALUATIONS

    def evaluate() -> list[bool]:
        out = []
        for event, state in pairs:
            context = {"type": event.type, "ts": event.ts_ms, "props": event.props}
            context["contact"] = contact_view(state, event.ts_ms, rules)
            out.append(condition.evaluate(context))
        return out

    results = benchmark(evaluate)

    assert len(results) == EVALUATIONS


@pytest.mark.benchmark(group="rules")
def test_add_points(benchmark: BenchmarkFixture, events: list[Event], rules: Rules) -> None:
    """Built-in points: decay the contact's points to the event, add the rule's, cap."""
    by_type = {rule.event: rule for rule in rules.scoring.rules}
    scored = [(e, by_type[e.type]) for e in events if e.type in by_type]
    states = {e.key: ContactState() for e, _ in scored}
    benchmark.extra_info["items"] = len(scored)

    def add_all() -> None:
        for event, rule in scored:
            add_points(states[event.key], rule, event.ts_ms, rules.scoring)

    benchmark(add_all)

    assert any(state.points for state in states.values())

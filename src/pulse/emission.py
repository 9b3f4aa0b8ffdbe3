"""Emitting a trigger: once per episode, with its guardrails decision, holdout and variant.

`Emitter.emit` is the one place a `Trigger` is made. It remembers the fired
episode (a second fire of the same episode is dropped), asks `pulse.guardrails`
for the decision (consent, caps, cooldowns, quiet hours; held out by
`pulse.experiments`), records the send, opens the goal window
(`pulse.attribution`), and writes the reason with the score facts when the model
is on. A suppressed trigger is written too: the output is the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from pulse import experiments, guardrails
from pulse.attribution import Attributions
from pulse.contact import ContactState
from pulse.rules import Rules
from pulse.scoring import score_at
from pulse.traits import copy_traits
from pulse.triggers import Kind, Reason, Trigger, TriggerSpecBase, iso_ms, trigger_id

__all__ = ["Emitter"]


class Emitter:
    """Makes the triggers of one rules version."""

    def __init__(
        self,
        rules: Rules,
        attributions: Attributions,
        score: Callable[[ContactState, int], float],
    ) -> None:
        self._rules = rules
        self._attributions = attributions
        self._score = score
        """The blended score of a contact at a time (`Journey.score`)."""

    def emit(
        self,
        out: list[Trigger],
        state: ContactState,
        key: str,
        spec: TriggerSpecBase,
        kind: Kind[Any],
        ts: int,
        episode: str,
        reason: Reason,
        *,
        memory: str = "",
        is_model_on: bool = False,
    ) -> bool:
        """Append a trigger, with the guardrails' decision, unless the episode already fired.

        `memory` is where the fired episode is remembered (default: the trigger's name).
        While the model is on the reason gets the score facts (`ScoreFacts`). Returns
        False when nothing was appended or the contact is lost.
        """
        memory = memory or spec.name
        if state.fired.get(memory) == episode:
            return False
        state.fired[memory] = episode
        rules = self._rules
        marketing = kind.is_marketing
        is_held_out = marketing and (
            experiments.is_held_out(key, spec.name, spec.holdout)
            or experiments.is_held_out(
                key, experiments.GLOBAL_CONTROL, rules.experiments.control_share
            )
        )
        verdict = guardrails.decide(
            state, key, spec.name, spec.channel, ts, rules.guardrails,
            is_marketing=marketing, is_held_out=is_held_out,
        )  # fmt: skip
        variant = experiments.variant_of(key, spec.name, spec.variants)
        if verdict.decision in ("sent", "deferred"):
            guardrails.record_send(
                state, spec.name, spec.channel, verdict.until_ms or ts, rules.guardrails
            )
        if verdict.decision != "suppressed" and marketing:
            arm = "held_out" if is_held_out else "sent"
            self._attributions.expose(state, spec, ts, variant, arm)
        score = self._score(state, ts)
        facts: dict[str, Any] = msgspec.to_builtins(reason)
        if is_model_on:
            points = round(score_at(state, ts, rules.scoring), 3)
            facts["points"] = points
            # `model_p` below 0 means the model gave no probability (warming up).
            facts["model_p"] = state.model_p if state.model_p >= 0 else None
            facts["model_points"] = round(score - points, 3)
        out.append(
            Trigger(
                trigger_id=trigger_id(key, spec.name, episode),
                trigger=spec.name,
                kind=kind.name,
                contact_id=key,
                ts=iso_ms(ts),
                ts_ms=ts,
                score=score,
                stage=state.stage,
                channel=spec.channel,
                rules_version=rules.version,
                reason=facts,
                decision=verdict.decision,
                suppressed_reason=verdict.reason,
                deferred_until=None if verdict.until_ms is None else iso_ms(verdict.until_ms),
                variant=variant or None,
                traits=copy_traits(state, spec.traits) or msgspec.UNSET,
            )
        )
        return verdict.reason != "lost"

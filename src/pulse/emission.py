"""Emitting a trigger: once per episode, with its guardrails decision, holdout and variant.

`Emitter.emit` is the one place a `Trigger` is made. It remembers the fired
episode (a second fire of the same episode is dropped), chooses the channel
(`pulse.channels`), asks `pulse.guardrails` for the decision (consent, caps,
cooldowns, exclusion groups, quiet hours; held out by `pulse.experiments`),
records the send, arms the channel fallback, opens the goal window
(`pulse.attribution`), and writes the reason with the score facts when the model
is on. A suppressed trigger is written too: the output is the audit trail.
A sent trigger with `steps` starts its sequence (`pulse.sequences`). `Emitter.fire`
fires a due fallback on the next eligible channel, or a sequence's next step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec

from pulse import channels, experiments, guardrails, sequences
from pulse.attribution import Attributions
from pulse.contact import ContactState, Timer
from pulse.events import Event
from pulse.exclusion import rivals_of
from pulse.rules import Rules
from pulse.scoring import score_at
from pulse.traits import copy_traits
from pulse.triggers import Kind, Reason, Trigger, TriggerSpecBase, iso_ms, kind_of, trigger_id

__all__ = ["Emitter"]


class Emitter:
    """Makes the triggers of one rules version."""

    def __init__(
        self,
        rules: Rules,
        attributions: Attributions,
        score: Callable[[ContactState, int], float],
        skipped: Counter[str],
        is_model_on: Callable[[], bool] = lambda: False,
    ) -> None:
        self._rules = rules
        self._attributions = attributions
        self._score = score
        """The blended score of a contact at a time (`Journey.score`)."""
        self._skipped = skipped
        self._is_model_on = is_model_on
        """Whether the model is on (the journey's model may change): every reason then gets
        the score facts (`ScoreFacts`)."""
        specs = [spec for spec in rules.triggers if spec.enabled]
        self._specs = {spec.name: spec for spec in specs}
        self._options = {spec.name: channels.options_of(spec) for spec in specs}
        self._rivals = rivals_of({s.name: s.priority for s in specs}, rules.guardrails)
        with_fallback = [spec for spec in specs if spec.fallback_after is not None]
        self._engagement = {s.name: frozenset(s.engagement) for s in with_fallback}
        self._waits = {s.name: s.fallback_after.ms for s in with_fallback if s.fallback_after}
        self._step_options = {
            (spec.name, step.name): channels.options_of(step) if step.channel or step.channels
            else self._options[spec.name]
            for spec in specs for step in spec.steps
        }  # fmt: skip
        self._exits = {s.name: frozenset(s.exit_on) for s in specs if s.steps}
        self._max_active = rules.sequences.max_active
        self.engagement_types = frozenset().union(*self._engagement.values())
        """Event types that may cancel a pending fallback or end a sequence (`note_event`)."""
        if self._exits:
            self.engagement_types |= frozenset({"unsubscribe"}).union(*self._exits.values())

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
        memory: str = "",
        *,
        pick: int | None = None,
        step: str = "",
    ) -> bool:
        """Append a trigger, with the guardrails' decision, unless the episode already fired.

        `memory` is where the fired episode is remembered (default: the trigger's name).
        `pick` is the channel entry a fallback goes out on (default: the first eligible).
        `step` names the sequence step this is (its own channels; no cooldown, fallback,
        goal window or new sequence).
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
        is_first = pick is None and not step
        options = self._step_options[spec.name, step] if step else self._options.get(spec.name, ())
        require_consent = rules.guardrails.require_consent
        index = pick if pick is not None else channels.choose(
            options, 0, state, key, ts, require_consent
        )  # fmt: skip
        channel = options[index or 0].channel if options else None
        if options and index is None:
            verdict = guardrails.Verdict("suppressed", "no_channel")
        else:
            verdict = guardrails.decide(
                state, key, spec.name, channel, ts, rules.guardrails,
                is_marketing=marketing, is_held_out=is_held_out,
                rivals=self._rivals.get(spec.name, ()), is_fallback=not is_first,
            )  # fmt: skip
        variant = experiments.variant_of(key, spec.name, spec.variants)
        if verdict.decision in ("sent", "deferred"):
            sent_ms = verdict.until_ms or ts
            guardrails.record_send(state, spec.name, channel, sent_ms, rules.guardrails)
            wait = self._waits.get(spec.name)
            if wait is not None and not step and index is not None and index + 1 < len(options):
                channels.arm_fallback(
                    state, spec.name, episode, options[index].channel, sent_ms + wait,
                    self._skipped,
                )  # fmt: skip
            if spec.steps and is_first:
                sequences.start(state, spec, episode, ts, self._max_active, self._skipped)
        elif spec.steps and is_first:
            self._skipped[f"sequence_not_started:{spec.name}"] += 1
        if verdict.decision != "suppressed" and marketing and is_first:
            arm = "held_out" if is_held_out else "sent"
            self._attributions.expose(state, spec, ts, variant, arm)
        score = self._score(state, ts)
        facts: dict[str, Any] = msgspec.to_builtins(reason)
        if verdict.by is not None:
            facts["excluded_by"] = verdict.by
        if self._is_model_on():
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
                channel=channel,
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

    def fire(
        self, out: list[Trigger], state: ContactState, key: str, timer: Timer, slot: str
    ) -> bool:
        """Fire a due fallback or sequence step timer (already removed); False for a timer
        of neither kind."""
        if slot.startswith(channels.FALLBACK_SLOT):
            self.fall_back(out, state, key, timer, slot)
        elif slot.startswith(sequences.SEQUENCE_SLOT):
            self.next_step(out, state, key, timer, slot)
        else:
            return False
        return True

    def next_step(
        self, out: list[Trigger], state: ContactState, key: str, timer: Timer, slot: str
    ) -> None:
        """Fire a sequence's due step as a trigger of its own, then arm the step after it
        (unless the contact is lost); a step the rules no longer have ends the sequence,
        counted (`sequence_step_gone`)."""
        spec = self._specs.get(timer.trigger)
        steps = None if spec is None else sequences.due_step(spec, slot)
        if spec is None or steps is None:
            self._skipped["sequence_step_gone"] += 1
            return
        done, after = steps
        first = sequences.first_id(key, timer)
        reason = sequences.StepReason(
            armed_by=timer.episode, due=iso_ms(timer.due_ms), step=done.name, sequence_of=first
        )
        is_alive = self.emit(
            out, state, key, spec, kind_of(spec), timer.due_ms,
            sequences.step_episode(first, done.name), reason, f"{spec.name}>step", step=done.name,
        )  # fmt: skip
        if is_alive and after is not None:
            sequences.arm_next(state, spec, timer, done, after)

    def fall_back(
        self, out: list[Trigger], state: ContactState, key: str, timer: Timer, slot: str
    ) -> None:
        """Fire a due fallback (`pulse.channels`) on the next eligible channel entry, or
        count that there is none (`fallback_no_channel`)."""
        spec = self._specs.get(timer.trigger)
        if spec is None:
            return  # the trigger left the rules
        options = self._options[spec.name]
        used = channels.fallback_channel(slot)
        after = next((i for i, o in enumerate(options) if o.channel == used), len(options))
        rules = self._rules.guardrails
        pick = channels.choose(options, after + 1, state, key, timer.due_ms, rules.require_consent)
        if pick is None:
            self._skipped["fallback_no_channel"] += 1
            return
        reason = channels.FallbackReason(
            armed_by=timer.episode,
            due=iso_ms(timer.due_ms),
            fallback_of=trigger_id(key, spec.name, timer.episode),
            fallback_from=used,
        )
        self.emit(
            out, state, key, spec, kind_of(spec), timer.due_ms,
            f"{timer.episode}>{options[pick].channel}", reason,
            f"{spec.name}>fallback", pick=pick,
        )  # fmt: skip

    def note_event(self, state: ContactState, event: Event) -> None:
        """Cancel the pending fallbacks `event` engages with and end the sequences it exits
        (its type is one of `engagement_types`)."""
        channels.cancel_on_engagement(state, event, self._engagement, self._waits)
        if self._exits:
            sequences.end_on(state, event, self._exits, self._skipped)

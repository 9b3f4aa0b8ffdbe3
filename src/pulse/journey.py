"""A contact's journey: applying one event, or the passing of time, to its state.

Pure functions over `ContactState` and the loaded `Rules`: no I/O. The engine
loads states from Redis, calls `Journey.apply` for each event in the order the
sources release them (event time: see `pulse.watermark`) and `Journey.fire_due`
when the watermark passes pending timers, then writes the states back.

This module orchestrates; the concepts live beside it: the contact's own facts
(`pulse.facts`), the trigger kinds (`pulse.triggers`, whose hooks this calls in
the order `pulse.triggers.base` documents), emitting with guardrails, holdouts and
channel fallbacks and sequences (`pulse.emission`, `pulse.channels`,
`pulse.sequences`), goal windows
(`pulse.attribution`), labels (`pulse.labels`).

Determinism: before an event is applied, the contact's timers due before its
event time fire first. Events come in event-time order, so a contact's story is
a function of its events and their times: neither the batch size nor the arrival
order within the allowed lateness changes a trigger, a score or a stage.

Bounded: every part of a contact's state is capped (dedupe ring, cart lines,
per-order timers, session views, histories), so a contact that sends a hundred
thousand events an hour costs what a quiet one costs. What a cap turns away is
counted in `Journey.skipped` (the engine adds it to the run counters).
"""

from __future__ import annotations

from collections import Counter

from pulse import facts, labels, windows
from pulse.attribution import ATTRIBUTION_SLOT, Attributions
from pulse.conditions import Condition
from pulse.contact import STAGE_HISTORY_MAX, ContactState
from pulse.emission import Emitter
from pulse.events import Event
from pulse.facts import DEDUPE_IDS, MAX_CART_LINES
from pulse.features import extract_features
from pulse.model import LeadModel
from pulse.rules import Rules
from pulse.scoring import add_points, advance, contact_view, held_score, score_at, stage_of
from pulse.triggers import PASSIVE_TYPES, Reason, Trigger, TriggerSpecBase, kind_of
from pulse.triggers.dispatch import Dispatch

__all__ = ["DEDUPE_IDS", "MAX_CART_LINES", "PASSIVE_TYPES", "Journey"]

_HOUR_MS = 3_600_000


class Journey:
    """Applies events and timers to contact states under one rules version.

    It is also the `pulse.triggers.base.Step` the kinds' hooks call back.
    """

    def __init__(self, rules: Rules, model: LeadModel | None = None) -> None:
        self.rules = rules
        self.model = model if rules.model.enabled else None
        self.skipped: Counter[str] = Counter()
        """What a cap turned away, by reason; the engine drains it into the run counters."""
        self.rule_stats: Counter[str] = Counter()
        """Per point rule: `rule:<name>:hits`, `:points_milli`, `:stage_moves`, `:triggers`
        (see `pulse.rulestats`); the engine drains it into the run counters."""
        self.outcomes: Counter[str] = Counter()
        """Exposures and conversions per trigger, variant and arm (`lift:` counters, see
        `pulse.lift`); the engine drains it into the run counters."""
        # The facts of the event being applied, for the kinds' `after_scoring`.
        self.is_back = False
        self.score_before = self.points_before = self.score_after = self.points_after = 0.0
        self.features: list[float] | None = None
        """The last scored event's features, for explaining a trigger it fires."""
        self._scored: tuple[str, ...] = ()
        """The point rules that scored the event being applied."""
        self._out: list[Trigger] = []
        enabled = [spec for spec in rules.triggers if spec.enabled]
        self._specs: dict[str, TriggerSpecBase] = {spec.name: spec for spec in enabled}
        self._kinds = {spec.name: kind_of(spec) for spec in enabled}
        self._attributions = Attributions(
            rules.experiments, self._specs, self.outcomes, self.skipped
        )
        self._emitter = Emitter(
            rules, self._attributions, self.score, self.skipped, lambda: self.model is not None
        )
        self._point_rules = {
            type_: list(rules.rules_for(type_))
            for type_ in {rule.event for rule in rules.scoring.rules}
        }
        self._hooks = Dispatch(enabled)

    # -- events ---------------------------------------------------------------

    def apply(
        self, state: ContactState, event: Event, out: list[Trigger], as_of_ms: int | None = None
    ) -> None:
        """Apply one event (not a duplicate), appending the triggers it fires to `out`.

        Timers due before `as_of_ms` (default the event's time; a late event's is the
        watermark it arrived at) fire first.
        """
        ts, type_ = event.ts_ms, event.type
        self.fire_due(state, event.key, ts if as_of_ms is None else max(ts, as_of_ms), out)
        previous_active_ms = state.last_active_ts
        is_active = type_ not in PASSIVE_TYPES
        is_back = self.is_back = is_active and state.lost
        if is_back:
            state.lost = False
        if not state.first_ts:
            state.first_ts = ts
        if is_active and facts.track_session(state, event, self.rules.session_gap_ms):
            for kind, spec in self._hooks.on_session:
                kind.on_session(self, spec, state)
        if state.attributions:
            self._attributions.attribute(state, event)
        # Compaction only saves memory: doing it when a contact's event time enters a
        # new hour (and for long lists) bounds the state at a fraction of the cost of
        # every event, and depends on the contact's own events only, not on batching.
        is_new_hour = ts // _HOUR_MS > state.last_ts // _HOUR_MS
        windows.add(state.counts.setdefault(type_, []), ts)
        if facts.apply_facts(state, event, self.rules.model.premium_price, self.skipped):
            for kind, spec in self._hooks.on_event.get(type_, ()):
                kind.on_event(self, spec, state, event)
        facts.note_cancels(state, event)
        if type_ in self._emitter.engagement_types:
            self._emitter.note_event(state, event)
        points_before, points = self._apply_points(state, event)
        score_before = round(points_before + self._model_part(state, points_before), 3)
        state.last_ts = max(state.last_ts, ts)
        if is_active:
            state.last_active_ts = max(state.last_active_ts, ts)
            if state.last_active_ts == ts:  # an older event arriving late moves no silence
                for kind, spec in self._hooks.on_activity:
                    kind.on_activity(self, spec, state, event)
        if is_new_hour:
            facts.compact(state)
        score = self._apply_model(state, event, points, previous_active_ms)
        stage = state.stage
        self.set_stage(state, ts, stage_of(state, score, self.rules.stages))
        if state.stage != stage:
            self.credit("stage_moves")
        self.score_before, self.points_before = score_before, points_before
        self.score_after, self.points_after = score, points
        for kind, spec in self._hooks.after.get(type_, self._hooks.after_every):
            kind.after_scoring(self, spec, state, event)

    def _apply_points(self, state: ContactState, event: Event) -> tuple[float, float]:
        """Add the event's rule points; returns the decayed points before and after them."""
        scoring = self.rules.scoring
        before = advance(state, event.ts_ms, scoring)
        rules = self._point_rules.get(event.type)
        self._scored = ()
        if not rules:
            return before, before
        stats, scored = self.rule_stats, []
        for index, rule in rules:
            condition = self.rules.conditions.get(index)
            if condition is not None and not self._holds(condition, state, event):
                continue
            held = state.points.get(rule.name, 0.0)
            add_points(state, rule, event.ts_ms, scoring)
            gained = state.points[rule.name] - held
            stats[f"rule:{rule.name}:hits"] += 1
            stats[f"rule:{rule.name}:points_milli"] += round(1000 * gained)  # Redis HINCRBY
            scored.append(rule.name)
        self._scored = tuple(scored)
        return before, held_score(state, scoring)

    def _holds(self, condition: Condition, state: ContactState, event: Event) -> bool:
        variables = {"type": event.type, "ts": event.ts_ms, "props": event.props}
        if condition.needs_contact:
            variables["contact"] = contact_view(state, event.ts_ms, self.rules)
        return condition.evaluate(variables)

    def _apply_model(
        self, state: ContactState, event: Event, points: float, previous_active_ms: int
    ) -> float:
        """Predict, keep a vector for a delayed label; returns the blended score."""
        state.points_total = points
        model = self.model
        if model is None:
            return points
        ts = event.ts_ms
        if event.type == "purchase":
            labels.resolve_purchase(state, event.key, ts, model)
        features = self.features = extract_features(state, ts, previous_active_ms, points)
        p = model.probability(features)
        state.model_p = -1.0 if p is None else round(p, 4)
        labels.sample_vector(state, ts, features, model.spec)
        return round(points + self._model_part(state, points), 3)

    def _model_part(self, state: ContactState, points: float) -> float:
        """The points the model adds to `points` (0 until it is proven; see `LeadModel.blend`)."""
        if self.model is None:
            return 0.0
        # `model_p` below 0 means the model gave no probability (warming up).
        return self.model.blend(points, state.model_p if state.model_p >= 0 else None)

    def score(self, state: ContactState, ts_ms: int) -> float:
        """The blended score at `ts_ms`: decayed rule points plus the model part."""
        points = score_at(state, ts_ms, self.rules.scoring)
        return round(points + self._model_part(state, points), 3)

    # -- time -----------------------------------------------------------------

    def fire_due(self, state: ContactState, key: str, until_ms: int, out: list[Trigger]) -> None:
        """Fire, in due order, every pending timer due strictly before `until_ms`."""
        self._out = out
        while state.timers:
            slot, timer = min(state.timers.items(), key=lambda item: item[1].due_ms)
            if timer.due_ms >= until_ms:
                return
            del state.timers[slot]
            if slot == labels.LABEL_SLOT:
                if self.model is not None:
                    labels.resolve_expired(state, key, timer.due_ms, self.model)
                continue
            if slot == ATTRIBUTION_SLOT:
                self._attributions.close(state, timer.due_ms)
                continue
            if self._emitter.fire(out, state, key, timer, slot):
                continue
            if (spec := self._specs.get(timer.trigger)) is not None:
                self._kinds[spec.name].fire(self, spec, state, key, timer, slot)

    # -- what the kinds call back (`pulse.triggers.base.Step`) ------------------

    def emit(
        self,
        state: ContactState,
        key: str,
        spec: TriggerSpecBase,
        ts: int,
        episode: str,
        reason: Reason,
        *,
        memory: str = "",
    ) -> bool:
        """Emit a trigger once per episode, with its decision (see `pulse.emission`)."""
        kind = self._kinds[spec.name]
        return self._emitter.emit(self._out, state, key, spec, kind, ts, episode, reason, memory)

    def credit(self, what: str) -> None:
        """Count `what` (a stage move, a trigger) for each point rule that scored this event."""
        for name in self._scored:
            self.rule_stats[f"rule:{name}:{what}"] += 1

    def set_stage(self, state: ContactState, ts: int, stage: str) -> None:
        """Move the contact to `stage`, kept in its (bounded) stage history."""
        if state.stage != stage:
            state.stage = stage
            state.stage_history = [*state.stage_history[-(STAGE_HISTORY_MAX - 1) :], (ts, stage)]

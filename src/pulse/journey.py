"""A contact's journey: applying one event, or the passing of time, to its state.

Pure functions over `ContactState` and the loaded `Rules`: no I/O. The engine
loads states from Redis, calls `Journey.apply` for each event in the order the
sources release them (event time: see `pulse.watermark`) and `Journey.fire_due`
when the watermark passes pending timers, then writes the states back.

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

import zlib
from collections import Counter
from typing import Any

from pulse import experiments, guardrails, labels, lift, windows
from pulse.conditions import Condition
from pulse.contact import Attribution, ContactState, Timer
from pulse.events import Event
from pulse.features import extract_features
from pulse.identity import apply_traits
from pulse.model import LeadModel
from pulse.rules import (
    AbandonCart,
    BrowseAbandon,
    LostCustomer,
    PostPurchase,
    Rescue,
    Rules,
    SalesReady,
    TriggerSpec,
    Welcome,
    WelcomeBack,
    trigger_kind,
)
from pulse.scoring import add_points, advance, contact_view, held_score, score_at, stage_of
from pulse.triggers import Trigger, iso_ms, trigger_id

__all__ = ["DEDUPE_IDS", "MAX_CART_LINES", "PASSIVE_TYPES", "Journey"]

DEDUPE_IDS = 16
"""Producer duplicates (the same `event_id` sent twice) are caught among this many of the
contact's newest event ids. Replays after a crash are recognised by source position, not
here (see `pulse.batch.StreamPosition`)."""
MAX_CART_LINES = 50
"""Products an open cart tracks one by one; more are summed into the line `_more`."""
MAX_ORDER_TIMERS = 10
"""Pending per-order timers (post-purchase) a contact may hold; more are counted, not armed."""
_MORE = "_more"

PASSIVE_TYPES = frozenset({"email_sent", "email_bounced", "spam_complaint"})
"""Events that are not the contact's activity (sends, and what a mailbox reports of them):
counted, never a session, a return from `lost` or the end of a silence."""

_HISTORY = 10
ATTRIBUTION_SLOT = lift.ATTRIBUTION_SLOT
"""The timer slot that closes a contact's oldest goal window (see `Journey._attribute`)."""
_HOUR_MS = 3_600_000


class Journey:
    """Applies events and timers to contact states under one rules version."""

    def __init__(self, rules: Rules, model: LeadModel | None = None) -> None:
        self.rules = rules
        self.model = model if rules.model.enabled else None
        self._features: list[float] | None = None
        self.skipped: Counter[str] = Counter()
        """What a cap turned away, by reason; the engine drains it into the run counters."""
        """The last scored event's features, for explaining a trigger it fires."""
        self.rule_stats: Counter[str] = Counter()
        """Per point rule: `rule:<name>:hits`, `:points_milli`, `:stage_moves`, `:triggers`
        (see `pulse.rulestats`); the engine drains it into the run counters."""
        self.outcomes: Counter[str] = Counter()
        """Exposures and conversions per trigger, variant and arm (`lift:` counters, see
        `pulse.lift`); the engine drains it into the run counters."""
        self._scored: tuple[str, ...] = ()
        """The point rules that scored the event being applied."""
        enabled = [spec for spec in rules.triggers if spec.enabled]
        self._specs: dict[str, TriggerSpec] = {spec.name: spec for spec in enabled}
        self._welcome = [s for s in enabled if isinstance(s, Welcome)]
        self._abandon = [s for s in enabled if isinstance(s, AbandonCart)]
        self._browse = [s for s in enabled if isinstance(s, BrowseAbandon)]
        self._sales = [s for s in enabled if isinstance(s, SalesReady)]
        self._rescue = [s for s in enabled if isinstance(s, Rescue)]
        self._lost = [s for s in enabled if isinstance(s, LostCustomer)]
        self._back = [s for s in enabled if isinstance(s, WelcomeBack)]
        self._post = [s for s in enabled if isinstance(s, PostPurchase)]
        self._browse_names = frozenset(s.name for s in self._browse)
        self._point_rules = {
            type_: list(rules.rules_for(type_))
            for type_ in {rule.event for rule in rules.scoring.rules}
        }

    # -- dedupe ---------------------------------------------------------------

    def is_duplicate(self, state: ContactState, event: Event) -> bool:
        """Whether a producer sent this event twice; otherwise its id is remembered.

        The memory is a ring of fingerprints of the contact's `DEDUPE_IDS` newest
        event ids: constant work and size however busy the contact is (a producer's
        retry arrives within a few events; replays are recognised by source position).
        """
        raw_id = event.event_id.encode()
        # Two fast C checksums make a 64-bit fingerprint: collisions within a contact's
        # 16 newest ids are vanishingly rare, and it costs far less than a hash.
        digest = zlib.crc32(raw_id) | (zlib.adler32(raw_id) << 32)
        recent = state.recent_ids
        if digest in recent:
            return True
        recent.append(digest)  # newest last; the oldest leaves first
        if len(recent) > DEDUPE_IDS:
            del recent[: len(recent) - DEDUPE_IDS]
        return False

    # -- events ---------------------------------------------------------------

    def apply(
        self, state: ContactState, event: Event, out: list[Trigger], as_of_ms: int | None = None
    ) -> None:
        """Apply one event (not a duplicate), appending the triggers it fires to `out`.

        Timers due before `as_of_ms` (default the event's time; a late event's is the
        watermark it arrived at) fire first.
        """
        ts = event.ts_ms
        self.fire_due(state, event.key, ts if as_of_ms is None else max(ts, as_of_ms), out)
        previous_active_ms = state.last_active_ts
        is_active = event.type not in PASSIVE_TYPES
        is_back = is_active and state.lost
        if is_back:
            state.lost = False
        if not state.first_ts:
            state.first_ts = ts
        if is_active:
            self._track_session(state, event)
        if state.attributions:
            self._attribute(state, event)
        # Compaction only saves memory: doing it when a contact's event time enters a
        # new hour (and for long lists) bounds the state at a fraction of the cost of
        # every event, and depends on the contact's own events only, not on batching.
        is_new_hour = ts // _HOUR_MS > state.last_ts // _HOUR_MS
        windows.add(state.counts.setdefault(event.type, []), ts)
        self._apply_commerce(state, event, out)
        points_before, points = self._apply_points(state, event)
        score_before = round(points_before + self._model_part(state, points_before), 3)
        state.last_ts = max(state.last_ts, ts)
        if is_active:
            state.last_active_ts = max(state.last_active_ts, ts)
            self._arm_silence_timers(state, event)
        if is_new_hour:
            self.compact(state)
        score = self._apply_model(state, event, points, previous_active_ms)
        stage = state.stage
        self._update_stage(state, ts, score)
        if state.stage != stage:
            self._credit("stage_moves")
        if is_back:
            # Emitted after the stage update: it carries the stage the contact returns to.
            for spec in self._back:
                reason = {"event": event.event_id, "returns_to": state.stage}
                self._emit(out, state, event.key, spec, ts, event.event_id, reason)
        self._check_welcome(state, event, out)
        self._check_sales_ready(state, event, (score_before, points_before), (score, points), out)

    def _track_session(self, state: ContactState, event: Event) -> None:
        gap = event.ts_ms - state.last_active_ts
        if not state.session_id or gap > self.rules.session_gap_ms:
            state.session_id = event.event_id
            state.session_start = event.ts_ms
            state.session_views = {}
            windows.add(state.session_starts, event.ts_ms)
            self._forget_browse_episodes(state)

    def _apply_commerce(self, state: ContactState, event: Event, out: list[Trigger]) -> None:
        ts, type_ = event.ts_ms, event.type
        match type_:
            case "add_to_cart":
                self._add_to_cart(state, event)
            case "remove_from_cart":
                self._remove_from_cart(state, event)
            case "purchase":
                self._purchase(state, event)
            case "refund":
                self._refund(state, event)
            case "product_view":
                self._product_view(state, event)
            case "unsubscribe" | "consent" | "email_bounced" | "spam_complaint":
                refused = guardrails.apply_consent(state, event)
                if refused is not None:
                    self.skipped[refused] += 1
            case "identify" | "signup" | "alias" | "login":
                apply_traits(state, event.props)
            case _:
                pass
        for spec in self._abandon:
            if type_ in spec.cancel_on:
                state.timers.pop(spec.name, None)
        if type_ in ("checkout_started", "purchase", "add_to_cart"):
            state.last_cancel_ts[type_] = max(state.last_cancel_ts.get(type_, 0), ts)
        if type_ == "signup":
            state.signup_ts = state.signup_ts or ts

    def _check_welcome(self, state: ContactState, event: Event, out: list[Trigger]) -> None:
        for spec in self._welcome:
            if event.type == spec.event and not state.welcomed:
                state.welcomed = True
                reason = {"event": event.event_id}
                self._emit(out, state, event.key, spec, event.ts_ms, event.event_id, reason)

    def _add_to_cart(self, state: ContactState, event: Event) -> None:
        ts = event.ts_ms
        if ts <= state.last_cancel_ts.get("purchase", 0):
            return  # added before a purchase already seen: that cart was bought
        props = event.props
        product = str(props.get("product_id", "_"))
        quantity = float(props.get("quantity") or 1)
        price = float(props.get("price") or 0.0)
        if not state.cart:
            state.cart_episode = event.event_id
            state.cart_opened_ts = ts
        if product not in state.cart and len(state.cart) >= MAX_CART_LINES:
            # Beyond the cap one line holds the value of the rest: [1, value].
            self.skipped["cart_lines_merged"] += 1
            more = state.cart.setdefault(_MORE, [1.0, 0.0])
            more[1] += quantity * price
        else:
            item = state.cart.setdefault(product, [0.0, price])
            item[0] += quantity
            item[1] = price
        self._cancel_browse(state)
        for abandon in self._abandon:
            self._arm_abandon(state, abandon, ts)

    def _arm_abandon(self, state: ContactState, spec: AbandonCart, ts: int) -> None:
        if state.fired.get(spec.name) == state.cart_episode:
            return  # one trigger per cart episode
        if any(state.last_cancel_ts.get(t, 0) >= ts for t in spec.cancel_on):
            return  # a checkout or purchase after this add already arrived (out of order)
        due = ts + spec.after.ms
        current = state.timers.get(spec.name)
        if current is None or current.due_ms < due:
            state.timers[spec.name] = Timer(due, state.cart_episode, spec.name)

    def _remove_from_cart(self, state: ContactState, event: Event) -> None:
        product = str(event.props.get("product_id", "_"))
        item = state.cart.get(product)
        if item is not None:
            item[0] -= float(event.props.get("quantity") or item[0])
            if item[0] <= 0:
                del state.cart[product]
        if not state.cart:
            self._close_cart(state)

    def _close_cart(self, state: ContactState) -> None:
        state.cart = {}
        state.cart_episode = ""
        for spec in self._abandon:
            state.timers.pop(spec.name, None)

    def _purchase(self, state: ContactState, event: Event) -> None:
        state.purchases += 1
        revenue = event.props.get("revenue")
        state.revenue += float(revenue) if revenue is not None else state.cart_value()
        self._close_cart(state)
        order = str(event.props.get("order_id") or event.event_id)
        for spec in self._post:
            slots = sum(1 for slot in state.timers if slot.startswith(spec.name + ":"))
            if slots >= MAX_ORDER_TIMERS:
                self.skipped[f"{spec.name}_orders_over_cap"] += 1
                continue
            due = event.ts_ms + spec.after.ms
            state.timers[f"{spec.name}:{order}"] = Timer(due, order, spec.name)

    def _refund(self, state: ContactState, event: Event) -> None:
        order = event.props.get("order_id")
        for spec in self._post:
            if order is None:
                for slot in [s for s in state.timers if s.startswith(spec.name + ":")]:
                    del state.timers[slot]
            else:
                state.timers.pop(f"{spec.name}:{order}", None)

    def _product_view(self, state: ContactState, event: Event) -> None:
        price = event.props.get("price")
        if price is not None and price >= self.rules.model.premium_price:
            windows.add(state.premium_views, event.ts_ms)
        product = event.props.get("product_id")
        if product is None:
            return
        product = str(product)
        views = state.session_views.get(product, 0) + 1
        if views == 1 and len(state.session_views) >= 20:
            return  # bound the per-session map; a 21st product is not tracked
        state.session_views[product] = views
        for spec in self._browse:
            if views < spec.min_views:
                continue
            # One episode per session and product; one pending reminder per product.
            slot, episode = f"{spec.name}:{product}", f"{state.session_id}:{product}"
            if slot in state.timers or state.fired.get(slot) == episode:
                continue
            if state.last_cancel_ts.get("add_to_cart", 0) >= event.ts_ms:
                continue
            state.timers[slot] = Timer(event.ts_ms + spec.after.ms, episode, spec.name)

    def _cancel_browse(self, state: ContactState) -> None:
        """An add to cart ends every browse episode: the cart reminder takes over."""
        if self._browse:
            for slot in [s for s, t in state.timers.items() if t.trigger in self._browse_names]:
                del state.timers[slot]

    def _forget_browse_episodes(self, state: ContactState) -> None:
        """A new session: fired browse episodes of past sessions need no memory any more."""
        if self._browse and state.fired:
            for slot in [s for s in state.fired if s.split(":", 1)[0] in self._browse_names]:
                if slot not in state.timers:
                    del state.fired[slot]

    def score(self, state: ContactState, ts_ms: int) -> float:
        """The blended score at `ts_ms`: decayed rule points plus the model part."""
        points = score_at(state, ts_ms, self.rules.scoring)
        return round(points + self._model_part(state, points), 3)

    def _model_part(self, state: ContactState, points: float) -> float:
        """The points the model adds to `points` (0 until it is proven; see `LeadModel.blend`)."""
        if self.model is None:
            return 0.0
        # `model_p` below 0 means the model gave no probability (warming up).
        return self.model.blend(points, state.model_p if state.model_p >= 0 else None)

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
        features = self._features = extract_features(state, ts, previous_active_ms, points)
        p = model.probability(features)
        state.model_p = -1.0 if p is None else round(p, 4)
        labels.sample_vector(state, ts, features, model.spec)
        return round(points + self._model_part(state, points), 3)

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

    def _credit(self, what: str) -> None:
        """Count `what` (a stage move, a trigger) for each point rule that scored this event."""
        for name in self._scored:
            self.rule_stats[f"rule:{name}:{what}"] += 1

    def _holds(self, condition: Condition, state: ContactState, event: Event) -> bool:
        variables = {"type": event.type, "ts": event.ts_ms, "props": event.props}
        if condition.needs_contact:
            variables["contact"] = contact_view(state, event.ts_ms, self.rules)
        return condition.evaluate(variables)

    def _check_sales_ready(
        self,
        state: ContactState,
        event: Event,
        before: tuple[float, float],
        after: tuple[float, float],
        out: list[Trigger],
    ) -> None:
        """Fire when the blended score crosses `threshold` upward while armed, and the
        rule points have reached `min_points` (when set).

        Re-armed once the lead has cooled: the score before the event below
        `rearm_below`, and its rule points too, so a model probability that moves
        with every event cannot fire the same hot lead again and again. The points
        floor keeps a probability peak alone from flagging a contact that has done
        little: the lead is both likely to buy and engaged.
        """
        score_before, points_before = before
        score, points = after
        cooled = max(score_before, points_before)
        for spec in self._sales:
            if not state.sales_ready_armed and cooled < spec.rearm_below:
                state.sales_ready_armed = True
            if (
                state.sales_ready_armed
                and score >= spec.threshold
                and (spec.min_points is None or points >= spec.min_points)
                and not state.lost
            ):
                state.sales_ready_armed = False
                self._credit("triggers")
                reason: dict[str, Any] = {"event": event.event_id, "score_before": score_before}
                if self.model is not None:
                    reason["threshold"] = spec.threshold
                if self.model is not None and self.model.is_proven and self._features is not None:
                    reason["top_features"] = self.model.contributions(self._features)
                self._emit(out, state, event.key, spec, event.ts_ms, event.event_id, reason)

    def _arm_silence_timers(self, state: ContactState, event: Event) -> None:
        ts = state.last_active_ts
        if ts != event.ts_ms:
            return  # an older event arriving late moves no silence
        for spec in self._rescue:
            # Armed on every activity, engagement checked when it fires: counting the
            # windows per event would cost more than the rest of the event's work.
            state.timers[spec.name] = Timer(ts + spec.silent_for.ms, event.event_id, spec.name)
        for lost in self._lost:
            if state.purchases >= 1:
                state.timers[lost.name] = Timer(ts + lost.silent_for.ms, event.event_id, lost.name)

    @staticmethod
    def _is_engaged(state: ContactState, spec: Rescue) -> bool:
        """Enough own events and sessions in the 30 days before the contact fell silent."""
        window, until = windows.WINDOWS_MS["30d"], state.last_active_ts
        sessions = windows.count(state.session_starts, until, window)
        if sessions < spec.min_sessions_30d:
            return False
        events = sum(
            windows.count(buckets, until, window)
            for type_, buckets in state.counts.items()
            if type_ not in PASSIVE_TYPES
        )
        return events >= spec.min_events_30d

    def _update_stage(self, state: ContactState, ts: int, score: float) -> None:
        stage = stage_of(state, score, self.rules.stages)
        if stage != state.stage:
            state.stage = stage
            state.stage_history = [*state.stage_history[-(_HISTORY - 1) :], (ts, stage)]

    @staticmethod
    def compact(state: ContactState) -> None:
        """Merge aged window buckets and drop types with no events in the last 30 days."""
        now = state.last_ts
        for type_, buckets in list(state.counts.items()):
            if windows.needs_compaction(buckets, now):
                compacted = windows.compact(buckets, now)
                if compacted:
                    state.counts[type_] = compacted
                else:
                    del state.counts[type_]
        for name in ("premium_views", "session_starts"):
            buckets = getattr(state, name)
            if windows.needs_compaction(buckets, now):
                setattr(state, name, windows.compact(buckets, now))

    # -- time -----------------------------------------------------------------

    def fire_due(self, state: ContactState, key: str, until_ms: int, out: list[Trigger]) -> None:
        """Fire, in due order, every pending timer due strictly before `until_ms`."""
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
                self._close_attributions(state, timer.due_ms)
                continue
            spec = self._specs.get(timer.trigger)
            if spec is not None:
                self._fire_timer(state, key, spec, timer, out, slot)

    def _fire_timer(
        self,
        state: ContactState,
        key: str,
        spec: TriggerSpec,
        timer: Timer,
        out: list[Trigger],
        slot: str,
    ) -> None:
        due = timer.due_ms
        reason: dict[str, Any] = {"armed_by": timer.episode, "due": iso_ms(due)}
        match spec:
            case AbandonCart():
                value = state.cart_value()
                if state.cart_episode != timer.episode or value < spec.min_cart_value:
                    return
                reason |= {"cart_value": round(value, 2), "items": len(state.cart)}
                self._emit(out, state, key, spec, due, timer.episode, reason)
            case BrowseAbandon():
                reason["product_id"] = slot[len(spec.name) + 1 :]  # the slot is `name:product`
                self._emit(out, state, key, spec, due, timer.episode, reason, memory=slot)
            case Rescue():
                if not self._is_engaged(state, spec):
                    self.skipped[f"{spec.name}_not_engaged"] += 1
                    return
                reason["last_active"] = iso_ms(state.last_active_ts)
                if self._emit(out, state, key, spec, due, timer.episode, reason):
                    self._set_stage(state, due, "at_risk")
            case LostCustomer():
                if state.purchases < 1 or state.lost:
                    return
                reason["last_active"] = iso_ms(state.last_active_ts)
                self._emit(out, state, key, spec, due, timer.episode, reason, marketing=False)
                state.lost = True
                self._set_stage(state, due, "lost")
            case PostPurchase():
                reason["order_id"] = timer.episode
                self._emit(out, state, key, spec, due, timer.episode, reason)
            case _:
                pass

    def _set_stage(self, state: ContactState, ts: int, stage: str) -> None:
        if state.stage != stage:
            state.stage = stage
            state.stage_history = [*state.stage_history[-(_HISTORY - 1) :], (ts, stage)]

    # -- output ---------------------------------------------------------------

    def _emit(
        self,
        out: list[Trigger],
        state: ContactState,
        key: str,
        spec: TriggerSpec,
        ts: int,
        episode: str,
        reason: dict[str, Any],
        *,
        marketing: bool = True,
        memory: str = "",
    ) -> bool:
        """Append a trigger, with the guardrails' decision, unless the episode already fired.

        `memory` is where the fired episode is remembered (default: the trigger's name).
        A suppressed trigger is appended too (the output is the audit trail). Returns
        False when nothing was appended or the contact is lost.
        """
        memory = memory or spec.name
        if state.fired.get(memory) == episode:
            return False
        state.fired[memory] = episode
        rules = self.rules.guardrails
        is_held_out = marketing and (
            experiments.is_held_out(key, spec.name, spec.holdout)
            or experiments.is_held_out(
                key, experiments.GLOBAL_CONTROL, self.rules.experiments.control_share
            )
        )
        verdict = guardrails.decide(
            state, key, spec.name, spec.channel, ts, rules,
            is_marketing=marketing, is_held_out=is_held_out,
        )  # fmt: skip
        variant = experiments.variant_of(key, spec.name, spec.variants)
        if verdict.decision in ("sent", "deferred"):
            guardrails.record_send(state, spec.name, spec.channel, verdict.until_ms or ts, rules)
        if verdict.decision != "suppressed" and marketing:
            self._expose(state, spec, ts, variant, "held_out" if is_held_out else "sent")
        score = self.score(state, ts)
        if self.model is not None:
            reason = {**reason, "points": round(score_at(state, ts, self.rules.scoring), 3)}
            reason["model_p"] = state.model_p if state.model_p >= 0 else None
            reason["model_points"] = round(score - reason["points"], 3)
        out.append(
            Trigger(
                trigger_id=trigger_id(key, spec.name, episode),
                trigger=spec.name,
                kind=trigger_kind(spec),
                contact_id=key,
                ts=iso_ms(ts),
                ts_ms=ts,
                score=score,
                stage=state.stage,
                channel=spec.channel,
                rules_version=self.rules.version,
                reason=reason,
                decision=verdict.decision,
                suppressed_reason=verdict.reason,
                deferred_until=None if verdict.until_ms is None else iso_ms(verdict.until_ms),
                variant=variant or None,
            )
        )
        return verdict.reason != "lost"

    # -- attribution (see `pulse.lift`) -----------------------------------------

    def _expose(
        self, state: ContactState, spec: TriggerSpec, ts: int, variant: str, arm: str
    ) -> None:
        """Count a sent or held-out trigger and open its goal window (bounded per contact)."""
        if len(state.attributions) >= self.rules.experiments.max_open:
            self.skipped["attributions_over_cap"] += 1
            return
        self.outcomes[lift.lift_key(spec.name, variant, arm, "exposed")] += 1
        due = ts + spec.goal_within.ms
        state.attributions.append(Attribution(spec.name, variant, arm, ts, due))
        self._arm_attributions(state)

    def _attribute(self, state: ContactState, event: Event) -> None:
        """A goal event converts every open attribution whose window holds it (revenue
        from `props.revenue`, else the cart it buys)."""
        ts, kept = event.ts_ms, []
        for open_ in state.attributions:
            spec = self._specs.get(open_.trigger)
            goal = spec.goal if spec is not None else "purchase"
            if event.type != goal or not open_.fired_ms < ts <= open_.due_ms:
                kept.append(open_)
                continue
            revenue = event.props.get("revenue")
            if not isinstance(revenue, int | float):
                revenue = state.cart_value() if event.type == "purchase" else 0.0
            after = lift.timing_bucket(ts - open_.fired_ms)
            outcomes, name = self.outcomes, open_.trigger
            outcomes[lift.lift_key(name, open_.variant, open_.arm, "converted")] += 1
            outcomes[lift.lift_key(name, open_.variant, open_.arm, "revenue_cents")] += round(
                100 * float(revenue)
            )
            outcomes[lift.lift_key(name, open_.variant, open_.arm, f"within_{after}")] += 1
        if len(kept) != len(state.attributions):
            state.attributions = kept
            self._arm_attributions(state)

    def _close_attributions(self, state: ContactState, until_ms: int) -> None:
        """Goal windows that ended by `until_ms` close unconverted."""
        state.attributions = [a for a in state.attributions if a.due_ms > until_ms]
        self._arm_attributions(state)

    @staticmethod
    def _arm_attributions(state: ContactState) -> None:
        if state.attributions:
            due = min(a.due_ms for a in state.attributions)
            state.timers[ATTRIBUTION_SLOT] = Timer(due, "", ATTRIBUTION_SLOT)
        else:
            state.timers.pop(ATTRIBUTION_SLOT, None)

"""Quality of the online lead model, measured: one table per dataset.

    python bench/model_quality.py [--events 300000 --contacts 30000] [--json FILE]

For every label the model learned (a stored feature vector that a purchase
within the horizon made positive, or the horizon made negative), it compares:

  (a) rule points alone      the decayed rule points at scoring time
  (b) online model           the model's probability at scoring time (what pulse used),
                             and river's prequential score at learning time
  (c) blend                  the score as pulse computed it (points until the model is
                             proven, then the points at the probability's quantile)
  (d) offline reference      a batch logistic regression (scikit-learn) trained on the
                             first half of the labels, tested on the second half

ROC AUC and log loss are computed over all labels, and over the second half
only so (a)-(c) can be read against (d) on the same examples. Datasets: the
generated journeys through the real engine and Redis; the REES46 head sample
(real events, 2.5 hours) through the real engine with short horizons; the UCI
online-shoppers sessions (real, session aggregates with a purchase label) fed
to the same river pipeline directly, since they are not an event stream.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import redis
from bytewax.testing import run_main
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pulse import labels as labels_module
from pulse.config import RunConfig
from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.flow import build_flow
from pulse.journey import Journey
from pulse.model import LeadModel
from pulse.outcomes import TriggerOutcome, read_purchases, trigger_outcomes
from pulse.readback import read_triggers
from pulse.redis_server import PrivateRedis
from pulse.rules import ModelSpec, default_rules_path, parse_rules

DATA = Path(__file__).parent / "data"
CACHE = Path(__file__).parent / ".data"


class Observed(msgspec.Struct):
    """One learned label: what the flow knew at scoring time, and the outcome."""

    bought: bool
    points: float
    probability: float
    blend: float
    prequential: float
    features: list[float]


class EngineRun(msgspec.Struct):
    """What one run of the flow learned and fired."""

    rows: list[Observed]
    sales_ready: TriggerOutcome
    quality: dict[str, Any]


def observe_engine(events: Path, rules_text: str) -> EngineRun:
    """Run the real flow over `events`, recording every label the model learns."""
    at_scoring: dict[tuple[int, tuple[float, ...]], list[tuple[float, float, float]]] = {}
    rules = parse_rules(rules_text, "<bench>")
    original_sample = labels_module.sample_vector
    original_apply = Journey._apply_model
    sampled: list[tuple[int, tuple[float, ...]]] = []

    def sample_vector(state: Any, ts_ms: int, features: list[float], spec: Any) -> None:
        before = len(state.pending)
        original_sample(state, ts_ms, features, spec)
        if len(state.pending) > before:
            sampled.append((ts_ms, tuple(features)))

    def apply_model(
        self: Journey, state: Any, event: Any, points: float, previous_active_ms: int
    ) -> float:
        score = original_apply(self, state, event, points, previous_active_ms)
        while sampled:
            p = state.model_p if state.model_p >= 0 else float("nan")
            at_scoring.setdefault(sampled.pop(), []).append((points, p, score))
        return score

    # Observe, do not alter: the hooks record what the flow knew when it scored.
    labels_module.sample_vector = sample_vector
    Journey._apply_model = apply_model  # type: ignore[method-assign]
    LeadModel.record_history = True
    prefix = "bench"
    try:
        with PrivateRedis() as server:
            config = RunConfig(
                rules_path="<bench>",
                redis_url=server.url,
                prefix=prefix,
                inputs=[str(events)],
                show_console=False,
                dead_letters_path=str(CACHE / "quality_dead_letters.jsonl"),
            )
            flow, factory = build_flow(config, rules)
            run_main(flow)  # type: ignore[no-untyped-call]  # bytewax is untyped
            factory.close()
            triggers = read_triggers(redis.Redis.from_url(server.url), f"{prefix}:triggers")
    finally:
        labels_module.sample_vector = original_sample
        Journey._apply_model = original_apply  # type: ignore[method-assign]
        LeadModel.record_history = False
    with events.open("rb") as lines:
        purchases = read_purchases(lines)
    horizon = rules.model.horizon.ms
    outcomes = {o.trigger: o for o in trigger_outcomes(triggers, purchases, horizon)}
    sales_ready = outcomes.get("sales_ready", TriggerOutcome("sales_ready", 0, 0, 0))
    model = factory.engines[0].model
    if model is None:
        return EngineRun([], sales_ready, {})
    rows = []
    for bought, prequential, scored_at, _, features in model.history:
        points, probability, blend = at_scoring[(scored_at, tuple(features))].pop(0)
        rows.append(Observed(bought, points, probability, blend, prequential, features))
    return EngineRun(rows, sales_ready, model.quality())


def compare(events: Path, rules_text: str) -> dict[str, Any]:
    """The flow with the model on, then off: label table and sales_ready precision."""
    on = observe_engine(events, rules_text)
    if "\nmodel:\n" in rules_text:
        off_text = rules_text.replace("\nmodel:\n", "\nmodel:\n  enabled: false\n", 1)
    else:
        off_text = rules_text + "\nmodel:\n  enabled: false\n"
    off = observe_engine(events, off_text)
    result = table(on.rows)
    result["sales_ready"] = {
        "points_only": _precision(off.sales_ready),
        "model_on": _precision(on.sales_ready),
    }
    result["model_quality"] = on.quality
    return result


def _precision(outcome: TriggerOutcome) -> dict[str, Any]:
    return {
        "fired": outcome.fired,
        "contacts": outcome.contacts,
        "bought": outcome.bought,
        "precision": round(outcome.precision, 4),
    }


def _auc(y: list[bool], s: list[float]) -> float:
    return float(roc_auc_score(y, s)) if 0 < sum(y) < len(y) else float("nan")


def _logloss(y: list[bool], p: list[float]) -> float:
    clipped = [min(max(v, 1e-6), 1 - 1e-6) for v in p]
    return float(log_loss(y, clipped, labels=[False, True]))


def _squash(score: float, scale: float) -> float:
    """Map an unbounded score to (0, 1) for a log loss; AUC does not need it."""
    return 1 - math.exp(-max(score, 0.0) / scale)


def table(rows: list[Observed]) -> dict[str, Any]:
    """The comparison table over the observed labels."""
    y = [r.bought for r in rows]
    half = len(rows) // 2
    y2 = y[half:]
    train_x = [r.features for r in rows[:half]]
    offline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    offline.fit(train_x, y[:half])
    offline_p = list(offline.predict_proba([r.features for r in rows[half:]])[:, 1])
    scale = max(sum(r.points for r in rows) / max(len(rows), 1), 1.0)

    def both(scores: list[float], probabilities: list[float] | None) -> dict[str, float]:
        second = scores[half:]
        out = {"auc_all": _auc(y, scores), "auc_second_half": _auc(y2, second)}
        if probabilities is not None:
            out["log_loss_all"] = _logloss(y, probabilities)
            out["log_loss_second_half"] = _logloss(y2, probabilities[half:])
        return {k: round(v, 4) for k, v in out.items()}

    points = [r.points for r in rows]
    # Before the model gives a probability (warm-up) it scores as the base rate would.
    at_scoring = [0.0 if math.isnan(r.probability) else r.probability for r in rows]
    return {
        "labels": len(rows),
        "positives": sum(y),
        "rule_points": both(points, [_squash(p, scale) for p in points]),
        "online_at_scoring": both(at_scoring, at_scoring),
        "online_prequential": both([r.prequential for r in rows], [r.prequential for r in rows]),
        "blend": both([r.blend for r in rows], None),
        "offline_reference": {
            "auc_second_half": round(_auc(y2, offline_p), 4),
            "log_loss_second_half": round(_logloss(y2, offline_p), 4),
        },
    }


def generated(events: int, contacts: int) -> dict[str, Any]:
    """The generated journeys through the real engine with the default rules."""
    path = CACHE / f"quality-{events}-{contacts}.jsonl"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        write_jsonl(GeneratorConfig(events=events, contacts=contacts, span_days=120), path)
    return compare(path, default_rules_path().read_text())


def rees46() -> dict[str, Any]:
    """The REES46 head (2.5 hours of a real store) with horizons scaled to its span."""
    source = DATA / "rees46-multicategory-2019oct-head" / "2019-Oct_head_user_behavior_sample.csv"
    path = CACHE / "rees46.jsonl"
    CACHE.mkdir(parents=True, exist_ok=True)
    kinds = {"view": "product_view", "cart": "add_to_cart", "purchase": "purchase"}
    with source.open() as f, path.open("wb") as out:
        for n, row in enumerate(csv.DictReader(f)):
            ts = datetime.strptime(row["event_time"], "%Y-%m-%d %H:%M:%S UTC")
            event = {
                "event_id": f"r{n}", "type": kinds[row["event_type"]],
                "ts": int(ts.replace(tzinfo=UTC).timestamp() * 1000),
                "contact_id": row["user_id"],
                "props": {"product_id": row["product_id"], "price": float(row["price"])},
            }  # fmt: skip
            out.write(orjson.dumps(event) + b"\n")
    text = default_rules_path().read_text() + (
        "\nmodel:\n  horizon: 30m\n  sample_every: 2m\n  learn_every: 5m\n  warmup_labels: 50\n"
    )
    return compare(path, text)


UCI_NUMERIC = (
    "Administrative", "Administrative_Duration", "Informational", "Informational_Duration",
    "ProductRelated", "ProductRelated_Duration", "BounceRates", "ExitRates", "PageValues",
    "SpecialDay",
)  # fmt: skip
UCI_NAMES = (*UCI_NUMERIC, "returning", "weekend", "rule_points")


def uci() -> dict[str, Any]:
    """UCI online shoppers: sessions with a purchase label, through `LeadModel` itself.

    Each session is predicted (probability and blend, as pulse would score it),
    then learned at once (a checkpoint per session).
    """
    source = DATA / "uci-online-shoppers-intention" / "online_shoppers_intention.csv"
    spec = ModelSpec(warmup_labels=200)
    model = LeadModel(spec, vector_names=UCI_NAMES, points_feature="rule_points")
    model.record_history = True
    rows: list[Observed] = []
    with source.open() as f:
        for n, row in enumerate(csv.DictReader(f)):
            x = [float(row[k]) for k in UCI_NUMERIC]
            # Rule points as the default pack would give them: 1 per page, 2 per product page.
            points = min(x[0] + x[2] + 2 * x[4], 200.0)
            x += [float(row["VisitorType"] == "Returning_Visitor"), float(row["Weekend"] == "TRUE")]
            x.append(points)
            bought = row["Revenue"] == "TRUE"
            p = model.probability(x)
            blend = points + model.blend(points, p)
            model.add_example((n, "s", n, bought, x))
            model.learn_until(n + 1)
            prequential = model.history[-1][1]
            probability = float("nan") if p is None else p
            rows.append(Observed(bought, points, probability, blend, prequential, x))
    return table(rows)


def _print(name: str, result: dict[str, Any]) -> None:
    print(f"\n{name}: {result['labels']} labels, {result['positives']} positive")
    print(f"{'scorer':<22}{'AUC (all)':>11}{'AUC (2nd half)':>16}{'log loss (2nd half)':>21}")
    for key in ("rule_points", "online_at_scoring", "online_prequential", "blend"):
        r = result[key]
        loss = r.get("log_loss_second_half", float("nan"))
        print(f"{key:<22}{r['auc_all']:>11.3f}{r['auc_second_half']:>16.3f}{loss:>21.3f}")
    r = result["offline_reference"]
    print(f"{'offline_reference':<22}{'':>11}{r['auc_second_half']:>16.3f}"
          f"{r['log_loss_second_half']:>21.3f}")  # fmt: skip
    quality = result.get("model_quality")
    if quality:
        state = "blended" if quality["blended"] else "not blended (does not beat points alone)"
        print(f"model at the end: {state}; recent log loss {quality['recent_log_loss']:.3f} "
              f"vs points alone {quality['points_recent_log_loss']:.3f}")  # fmt: skip
    precision = result.get("sales_ready")
    if precision:
        print(f"{'sales_ready':<22}{'fired':>8}{'contacts':>10}{'bought':>8}{'precision':>11}")
        for key in ("points_only", "model_on"):
            r = precision[key]
            print(f"{key:<22}{r['fired']:>8}{r['contacts']:>10}{r['bought']:>8}"
                  f"{r['precision']:>11.1%}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--contacts", type=int, default=30_000)
    parser.add_argument("--json", help="also write the tables as JSON to this file")
    parser.add_argument(
        "--only", choices=("generated", "rees46_head", "uci_online_shoppers"), action="append"
    )
    args = parser.parse_args()
    datasets = {
        "generated": lambda: generated(args.events, args.contacts),
        "rees46_head": rees46,
        "uci_online_shoppers": uci,
    }
    results = {name: run() for name, run in datasets.items() if name in (args.only or datasets)}
    for name, result in results.items():
        _print(name, result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

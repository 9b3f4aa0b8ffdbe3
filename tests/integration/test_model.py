"""The online model inside the real flow: persistence, restart, quality in Redis."""

from __future__ import annotations

from pathlib import Path

import redis

from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.model import LeadModel
from pulse.rules import default_rules_path, parse_rules
from pulse.state import ContactStore, KeyLayout

RULES = default_rules_path().read_text()


def _split(path: Path, tmp_path: Path) -> tuple[Path, Path]:
    lines = path.read_bytes().splitlines(keepends=True)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"".join(lines[: len(lines) // 2]))
    second.write_bytes(b"".join(lines[len(lines) // 2 :]))
    return first, second


def test_restart_resumes_the_saved_model_and_ends_with_the_same_model(
    replay, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    write_jsonl(GeneratorConfig(contacts=200, events=8000, span_days=60, seed=5), events)
    first, second = _split(events, tmp_path)
    client = redis.Redis.from_url(redis_url)
    spec = parse_rules(RULES).model

    one_go = replay(events, key_prefix=prefix + "-whole")
    before = replay(first, key_prefix=prefix + "-split")
    halfway = ContactStore(client, KeyLayout(prefix + "-split")).load_model(spec)
    assert halfway.labels > 0, "the first half must teach the model something"
    restarted = replay(second, key_prefix=prefix + "-split")

    whole = ContactStore(client, KeyLayout(prefix + "-whole")).load_model(spec)
    split = ContactStore(client, KeyLayout(prefix + "-split")).load_model(spec)
    assert split.labels == whole.labels > halfway.labels
    probe = [1.0] * len(whole.names)
    assert split.probability(probe) == whole.probability(probe)
    assert restarted, "the second half fires triggers"
    # Stopping and restarting changes nothing: together the two runs fire exactly
    # the triggers of one uninterrupted run, with the same scores.
    split_run = sorted((t.trigger_id, t.score) for t in before + restarted)
    assert split_run == sorted((t.trigger_id, t.score) for t in one_go)


def test_model_quality_is_stored_in_redis(
    replay, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    write_jsonl(GeneratorConfig(contacts=300, events=8000, span_days=60, seed=9), events)
    replay(events)
    store = ContactStore(redis.Redis.from_url(redis_url), KeyLayout(prefix))
    quality = store.model_quality()
    assert quality["labels"] > 0
    assert 0.0 < quality["roc_auc"] <= 1.0
    assert quality["log_loss"] > 0.0


def test_sales_ready_triggers_explain_the_model_part_once_it_is_proven(
    replay, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    write_jsonl(GeneratorConfig(contacts=400, events=20000, span_days=90, seed=2), events)
    rules = RULES.replace("version: 1", "version: 1\nmodel:\n  warmup_labels: 20")
    triggers = replay(events, rules=rules)
    proven = [t for t in triggers if t.trigger == "sales_ready" and t.reason.get("top_features")]
    assert proven, "some sales_ready trigger fires with the model in the score"
    for trigger in triggers:
        reason = trigger.reason
        # score = rule points + the model's part; proven, the score is the points at
        # the model's quantile, so it stays within the points a contact can have.
        assert abs(trigger.score - (reason["points"] + reason["model_points"])) < 0.01
        assert 0.0 <= trigger.score <= parse_rules(rules).scoring.total_cap + 0.01
        if reason["model_p"] is None:
            assert reason["model_points"] == 0, "no probability (warm-up): points alone"
    for trigger in proven:
        assert 0 < trigger.reason["model_p"] < 1


def test_model_learns_the_same_labels_whatever_the_batch_size(
    redis_url: str, tmp_path: Path
) -> None:
    from bytewax.testing import run_main

    from pulse.config import RunConfig
    from pulse.flow import build_flow

    events = tmp_path / "events.jsonl"
    write_jsonl(GeneratorConfig(contacts=150, events=5000, span_days=60, seed=4), events)
    rules = parse_rules(RULES)
    models: list[LeadModel] = []
    for batch_size, name in ((1, "one"), (997, "many")):
        config = RunConfig(
            rules_path="x", redis_url=redis_url, prefix=f"{name}-{tmp_path.name}",
            inputs=[str(events)], batch_size=batch_size, show_console=False,
            dead_letters_path=str(tmp_path / "dead.jsonl"),
        )  # fmt: skip
        flow, factory = build_flow(config, rules)
        run_main(flow)
        factory.close()
        model = factory.engines[0].model
        assert model is not None
        models.append(model)
    one, many = models
    assert one.labels == many.labels > 0
    probe = [2.0] * len(one.names)
    assert one.probability(probe) == many.probability(probe)

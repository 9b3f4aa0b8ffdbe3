"""Model sharing between engines: one trainer learns and publishes, the others load.

Two engines (two owners, as two processes would be) share one Redis; the test
drives them alternately, batch by batch, each with its own partition of contacts.
"""

from __future__ import annotations

import zlib

import redis

from pulse.batch import SourceBatch, batch_events
from pulse.connectors.generator import GeneratorConfig, generate_events
from pulse.engine import Engine
from pulse.events import Event
from pulse.rules import default_rules_path, parse_rules
from pulse.state import ContactStore, KeyLayout

RULES = parse_rules(
    default_rules_path()
    .read_text()
    .replace("version: 1", "version: 1\nmodel:\n  warmup_labels: 10")
)


def _batches(events: list[Event], partition: str, size: int = 200) -> list[SourceBatch]:
    return list(batch_events(events, partition, RULES.allowed_lateness_ms, size))


def _split(config: GeneratorConfig) -> tuple[list[Event], list[Event]]:
    events = list(generate_events(config))
    odd = [e for e in events if zlib.crc32(e.key.encode()) % 2]
    even = [e for e in events if not zlib.crc32(e.key.encode()) % 2]
    return odd, even


def _engine(redis_url: str, prefix: str) -> Engine:
    return Engine(RULES, ContactStore(redis.Redis.from_url(redis_url), KeyLayout(prefix)))


def test_one_engine_trains_and_the_other_ships_labels_and_loads_the_model(
    redis_url: str, prefix: str
) -> None:
    odd, even = _split(GeneratorConfig(contacts=300, events=12000, span_days=60, seed=8))
    trainer, loader = _engine(redis_url, prefix), _engine(redis_url, prefix)
    assert trainer.role is not None and loader.role is not None
    assert trainer.role.is_trainer and not loader.role.is_trainer
    store = trainer.store

    versions_seen = set()
    for mine, theirs in zip(_batches(odd, "p0"), _batches(even, "p1"), strict=False):
        trainer.process([mine])
        loader.process([theirs])
        versions_seen.add(loader.role.version)

    shipped = store.client.xlen(store.layout.labels)
    assert shipped > 0, "the loader ships the labels it resolves"
    assert trainer.model is not None and loader.model is not None
    assert trainer.model.labels > 0
    assert trainer.model.labels_stream_id != "0-0", "the trainer read the shipped labels"
    assert len(versions_seen) > 1, "the loader reloaded published versions"
    assert loader.model.labels <= trainer.model.labels
    assert loader.model.labels > 0, "the loader predicts with a trained model"


def test_a_loader_takes_over_training_when_the_trainer_stops(redis_url: str, prefix: str) -> None:
    odd, even = _split(GeneratorConfig(contacts=200, events=6000, span_days=40, seed=6))
    trainer, loader = _engine(redis_url, prefix), _engine(redis_url, prefix)
    odd_batches, even_batches = _batches(odd, "p0"), _batches(even, "p1")
    half = len(even_batches) // 2
    for mine, theirs in zip(odd_batches[:half], even_batches[:half], strict=False):
        trainer.process([mine])
        loader.process([theirs])
    assert loader.role is not None and not loader.role.is_trainer
    learned_by_trainer = trainer.model.labels if trainer.model else 0

    trainer.close()
    for theirs in even_batches[half:]:
        loader.process([theirs])

    assert loader.role.is_trainer
    assert loader.model is not None and loader.model.labels > learned_by_trainer


_WORKER = """
import json, sys, time, zlib
from itertools import islice
import redis
from pulse.connectors.generator import GeneratorConfig, generate_events
from pulse.batch import batch_events
from pulse.engine import Engine
from pulse.rules import default_rules_path, parse_rules
from pulse.state import ContactStore, KeyLayout
from pulse.watermark import Watermark

url, prefix, part = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = default_rules_path().read_text()
rules = parse_rules(text.replace("version: 1", "version: 1\\nmodel:\\n  warmup_labels: 10"))
events = [
    e for e in generate_events(GeneratorConfig(contacts=300, events=12000, span_days=60, seed=8))
    if zlib.crc32(e.key.encode()) % 2 == part
]
engine = Engine(rules, ContactStore(redis.Redis.from_url(url), KeyLayout(prefix)))
watermark = Watermark(rules.allowed_lateness_ms)
client = redis.Redis.from_url(url)

def run(part_events, is_final=False):
    for batch in batch_events(part_events, f"p{part}", rules.allowed_lateness_ms, 100,
                              watermark=watermark, is_final=is_final):
        engine.process([batch])

# Both processes run their first half, meet, then run the second: so each is
# sure to overlap the other, whatever the machine's speed.
half = len(events) // 2
run(events[:half])
client.incr(prefix + ":barrier")
deadline = time.monotonic() + 120
while int(client.get(prefix + ":barrier")) < 2 and time.monotonic() < deadline:
    time.sleep(0.05)
run(events[half:], is_final=True)
role = engine.role
print(json.dumps({"owner": role.owner, "trainer": role.is_trainer, "version": role.version,
                  "labels": role.model.labels}))
"""


def test_two_processes_share_one_trainer_and_the_loader_reloads_its_model(
    redis_url: str, prefix: str
) -> None:
    import json
    import os
    import subprocess
    import sys

    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, redis_url, prefix, str(part)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Two processes on one host: each its own index, as bytewax's `-i` gives them.
            env={**os.environ, "PULSE_PROCESS_ID": str(part)},
        )
        for part in (0, 1)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))

    trainers = [r for r in results if r["trainer"]]
    assert len(trainers) == 1, results
    loader = next(r for r in results if not r["trainer"])
    client = redis.Redis.from_url(redis_url)
    store = ContactStore(client, KeyLayout(prefix))
    shipped = client.xrange(store.layout.labels)
    assert shipped and all(f[b"writer"].decode() == loader["owner"] for _, f in shipped)
    published = store.load_model(RULES.model)
    assert published.labels_stream_id != "0-0", "the trainer learned the shipped labels"
    assert loader["version"] > 0 and loader["labels"] > 0, "the loader reloaded a trained model"

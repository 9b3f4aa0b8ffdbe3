"""Who trains the model when several processes run: one trainer, the rest load.

Every engine resolves labels for its own contacts. Exactly one engine, the
holder of a lease in Redis (`pulse:model:trainer`, renewed with each commit),
learns: it keeps its own labels and, at each checkpoint, takes the labels the
others shipped to the stream `pulse:labels` (written with their batches, so
none is lost), learns them all, and publishes the model. The others ship their
labels and reload the published model when its version changes. If the
trainer dies, its lease expires and the next engine to reach a checkpoint takes
over from the last published model and the unread labels.

With one process the single engine is the trainer and reads nobody's labels:
learning is then exactly as deterministic as the engine itself.

The lease holder is named by where the engine runs, not by a random id: host,
process index (`PULSE_PROCESS_ID`, or bytewax's `-i`) and the engine's worker
number in the process. Processes on one host that share a key prefix must have
distinct process indexes (bytewax's `-i` gives them). A process restarted after
a crash has the same name, so it takes its own lease back at once and learns
exactly what the dead one would have (the model it resumes from was committed
with the state it resumes from).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import sys

from pulse.model import Example, LeadModel
from pulse.rules import ModelSpec
from pulse.state import ContactStore, ModelShipping

__all__ = ["TRAINER_LEASE_MS", "ModelRole"]

log = logging.getLogger(__name__)

TRAINER_LEASE_MS = 30_000
"""How long a trainer that stops committing keeps the role (wall time)."""


_workers = itertools.count()


def worker_name() -> str:
    """A name for the next engine of this process, the same after a restart.

    >>> worker_name().count(":")
    2
    """
    process = os.environ.get("PULSE_PROCESS_ID") or _bytewax_process_id()
    return f"{socket.gethostname()}:{process}:{next(_workers)}"


def _bytewax_process_id() -> str:
    """The `-i N` of `python -m bytewax.run ... -i N`, or 0 for a single process."""
    argv = sys.argv
    if not argv or "bytewax" not in argv[0]:
        return "0"  # `pulse run -i FILE`: that `-i` is an input
    for i, arg in enumerate(argv):
        if arg in ("-i", "--process-id") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--process-id="):
            return arg.split("=", 1)[1]
    return "0"


class ModelRole:
    """One engine's part in training: trainer or loader, and the model it predicts with."""

    def __init__(self, store: ContactStore, spec: ModelSpec, owner: str | None = None) -> None:
        self.store = store
        self.owner = owner or worker_name()
        self.model = store.load_model(spec)
        self.version = store.model_version()
        self.is_trainer = store.claim_trainer(self.owner, TRAINER_LEASE_MS)
        self.stream_id = self.model.labels_stream_id
        self._has_read_labels = False

    def checkpoint(self, checkpoint_ms: int) -> int:
        """At an event-time checkpoint: learn (trainer) or reload (loader).

        Returns how many labels were learned.
        """
        if not self.is_trainer and self.store.claim_trainer(self.owner, TRAINER_LEASE_MS):
            log.info("this process takes over training the model")
            self._reload(force=True)
            self.is_trainer = True
        if not self.is_trainer:
            self.model.checkpoint_ms = checkpoint_ms
            self._reload()
            return 0
        if not self._has_read_labels:
            # Once per batch, not per checkpoint: a replay crosses hundreds of hourly
            # checkpoints in a batch, and a Redis read mid-loop costs more than they do.
            self._has_read_labels = True
            shipped, self.stream_id = self.store.read_labels(self.stream_id, exclude=self.owner)
            for example in shipped:
                self.model.add_example(_as_example(example))
            self.model.labels_stream_id = self.stream_id
        return self.model.learn_until(checkpoint_ms)

    def begin_batch(self) -> None:
        """A new batch: the labels other processes shipped are read again at its first
        checkpoint (those shipped during the batch wait for the next one)."""
        self._has_read_labels = False

    def _reload(self, *, force: bool = False) -> None:
        version = self.store.model_version()
        if version == self.version and not force:
            return
        checkpoint_ms = self.model.checkpoint_ms
        own_labels = self.model.buffer
        self.model = self.store.load_model(self.model.spec)
        self.model.checkpoint_ms = max(self.model.checkpoint_ms, checkpoint_ms)
        self.model.buffer = own_labels if not self.is_trainer else self.model.buffer + own_labels
        self.version = version
        self.stream_id = self.model.labels_stream_id

    def shipping(self) -> ModelShipping:
        """What this batch's commit writes: the lease (trainer) or the labels (loader)."""
        if self.is_trainer:
            return ModelShipping(owner=self.owner, lease_ms=TRAINER_LEASE_MS)
        labels, self.model.buffer = self.model.buffer, []
        return ModelShipping(owner=self.owner, labels=[list(e) for e in labels])

    def release(self) -> None:
        """Give up the trainer lease (if held), for a clean stop."""
        if self.is_trainer:
            self.store.release_trainer(self.owner)
            self.is_trainer = False

    def take_published(self) -> tuple[LeadModel | None, bool]:
        """The model to write with this batch, and whether it is a new version.

        Only the trainer writes, and only when something changed: a live batch of
        one event that resolved no label writes nothing (pickling the model is the
        largest cost of a small batch). Buffered labels are saved with the batch
        that resolved them, so none is lost to a crash.
        """
        model = self.model
        if not self.is_trainer or not model.is_changed:
            return None, False
        is_new_version = model.has_learned
        model.is_changed = model.has_learned = False
        return model, is_new_version


def _as_example(raw: tuple[object, ...]) -> Example:
    resolved, key, scored, bought, features = raw
    return (int(resolved), str(key), int(scored), bool(bought), list(features))  # type: ignore[call-overload]

"""The model registry in Redis: the saved model, its version and quality, the trainer
lease, and the labels loaders ship to the trainer (see `pulse.training`)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec
import redis

from pulse.state.keys import KeyLayout
from pulse.state.seam import call

if TYPE_CHECKING:
    from pulse.model import LeadModel
    from pulse.rules import ModelSpec

__all__ = ["ModelRegistry"]

# Delete a lease only if its holder is the caller (compare-and-delete).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_EXAMPLE_DECODER = msgspec.msgpack.Decoder()


class ModelRegistry:
    """Reads and leases of the shared model; `ContactStore` is one (it writes the model
    with each batch commit)."""

    def __init__(self, client: redis.Redis, layout: KeyLayout) -> None:
        self.client = client
        self.layout = layout
        self._release_script = client.register_script(_RELEASE)

    def load_model(self, spec: ModelSpec) -> LeadModel:
        """The saved model, or a new one when none is saved or its settings changed."""
        from pulse.model import LeadModel  # river loads only where a model is built

        raw = call(lambda: self.client.get(self.layout.model))
        return LeadModel(spec) if raw is None else LeadModel.loads(raw, spec)

    def claim_trainer(self, owner: str, lease_ms: int) -> bool:
        """Take (or keep) the trainer lease; only its holder learns and publishes the model."""

        def claim() -> bool:
            if self.client.set(self.layout.model_trainer, owner, nx=True, px=lease_ms):
                return True
            holder = self.client.get(self.layout.model_trainer)
            return holder in (owner, owner.encode())

        return bool(call(claim))

    def release_trainer(self, owner: str) -> None:
        """Drop the trainer lease if `owner` still holds it."""
        call(lambda: self._release_script(keys=[self.layout.model_trainer], args=[owner]))

    def model_version(self) -> int:
        """How many times a trainer has published the model."""
        raw = call(lambda: self.client.get(self.layout.model_version))
        return int(raw or 0)

    def read_labels(self, after: str, exclude: str, count: int = 10_000) -> tuple[list[Any], str]:
        """Labels other processes shipped after stream id `after`; returns them and the last id."""
        examples: list[Any] = []
        while True:
            entries = call(
                partial(self.client.xrange, self.layout.labels, min=f"({after}", count=count)
            )
            for entry_id, fields in entries:
                after = entry_id.decode()
                if fields[b"writer"].decode() != exclude:
                    examples.append(tuple(_EXAMPLE_DECODER.decode(fields[b"example"])))
            if len(entries) < count:
                return examples, after

    def model_quality(self) -> dict[str, float]:
        """The saved model's prequential quality metrics."""
        raw = call(lambda: self.client.hgetall(self.layout.model_quality))
        return {k.decode(): float(v) for k, v in raw.items()}

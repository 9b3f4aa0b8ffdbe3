"""Experiments: who is held out of a trigger, and which variant of it a contact gets.

Assignment is a pure function of the contact key and the experiment's name (the
trigger's name, or `GLOBAL_CONTROL` for the control group every marketing
trigger shares): a stable blake2b hash, never Python's salted `hash`, so a
replay, a restart, another process and the synthetic generator (which plants a
known effect on the same contacts; see `pulse.connectors.generator`) all agree.
Holdout and variant use independent hashes, so held-out contacts spread evenly
over the variants they would have received.

>>> is_held_out("c1", "abandon_cart", 0.0), is_held_out("c1", "abandon_cart", 1.0)
(False, True)
>>> variant_of("c1", "welcome", ["a", "b"]) == variant_of("c1", "welcome", ["a", "b"])
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["GLOBAL_CONTROL", "bucket", "is_held_out", "variant_of"]

GLOBAL_CONTROL = "global_control"
"""The experiment name of the global control group (`experiments.control_share`)."""

_SCALE = float(1 << 64)


def bucket(contact: str, experiment: str, salt: str = "holdout") -> float:
    """Where a contact falls in `[0, 1)` for an experiment: uniform and stable.

    >>> bucket("c42", "abandon_cart")
    0.3085740322254673
    >>> 0 <= bucket("c42", "abandon_cart", "variant") < 1
    True
    """
    body = f"{salt}\x1f{experiment}\x1f{contact}".encode()
    digest = hashlib.blake2b(body, digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def is_held_out(contact: str, experiment: str, share: float) -> bool:
    """Whether the contact is in the experiment's control group of size `share` (0..1).

    >>> held = sum(is_held_out(f"c{i}", "rescue", 0.1) for i in range(10_000))
    >>> 900 < held < 1100
    True
    """
    return share > 0 and bucket(contact, experiment) < share


def variant_of(contact: str, experiment: str, variants: Sequence[str]) -> str:
    """The variant of a trigger the contact gets (equal shares); `""` when it has none.

    >>> variant_of("c1", "welcome", [])
    ''
    >>> sorted({variant_of(f"c{i}", "welcome", ["a", "b"]) for i in range(20)})
    ['a', 'b']
    """
    if not variants:
        return ""
    return variants[int(bucket(contact, experiment, "variant") * len(variants))]

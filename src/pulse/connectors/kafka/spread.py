"""Detects contacts whose events arrive on more than one Kafka partition.

pulse keeps a watermark per partition and applies a contact's events in the
order its partition delivers them, so it needs every event of one contact on
one partition: producers key records by contact (`pulse produce` does). An
unkeyed producer spreads a contact's events over partitions; they then arrive
out of order and many are applied late.

`PartitionSpread` notices that cheaply: it reads the contact of one record in
`sample_every` (by offset), remembers which partition each sampled contact came
from (a bounded map shared by the partitions of one process), counts contacts
seen on a second partition, and logs one warning saying what to do. Partitions
read by other processes are not compared.
"""

from __future__ import annotations

import logging
import threading

import msgspec

__all__ = ["PartitionSpread"]

log = logging.getLogger("pulse.kafka")


class _Who(msgspec.Struct):
    contact_id: str | int | None = None
    anonymous_id: str | int | None = None


_DECODER = msgspec.json.Decoder(_Who)


class PartitionSpread:
    """Which partition a sample of contacts came from; counts contacts seen on two.

    >>> spread = PartitionSpread("events", sample_every=1)
    >>> spread.observe(b'{"contact_id":"c1"}', partition=0, offset=0)
    >>> spread.observe(b'{"contact_id":"c1"}', partition=1, offset=0)
    >>> spread.contacts
    1
    """

    def __init__(
        self,
        topic: str,
        *,
        sample_every: int = 8,
        max_contacts: int = 100_000,
        warn_after: int = 1,
    ) -> None:
        self.topic = topic
        self.sample_every = sample_every
        self.max_contacts = max_contacts
        self.warn_after = warn_after
        self.contacts = 0
        """Sampled contacts seen on more than one partition (each counted once)."""
        self._where: dict[str, int] = {}
        self._spread: set[str] = set()
        self._lock = threading.Lock()
        self._has_warned = False

    def observe(self, value: bytes, partition: int, offset: int) -> None:
        """Note the contact of the record at `offset` of `partition`, if it is sampled."""
        if offset % self.sample_every:
            return
        try:
            who = _DECODER.decode(value)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return  # not an event: the decoder dead-letters it
        key = who.contact_id if who.contact_id is not None else who.anonymous_id
        if key is None:
            return
        contact = str(key) if who.contact_id is not None else f"anon:{key}"
        with self._lock:
            first = self._where.setdefault(contact, partition)
            if first == partition or contact in self._spread:
                if len(self._where) > self.max_contacts:
                    self._where.clear()  # bounded: start a fresh sample
                return
            self._spread.add(contact)
            if len(self._spread) > self.max_contacts:
                self._spread.clear()
            self.contacts += 1
            if self._has_warned or self.contacts < self.warn_after:
                return
            self._has_warned = True
        log.warning(
            "Kafka topic `%s`: the events of one contact arrive on partitions %d and %d: "
            "the producer does not key records by contact. pulse orders events per "
            "partition, so such events arrive out of order and many are applied late, "
            "after timers they should have cancelled may have fired. Key each record by "
            "its `contact_id` (its "
            "`anonymous_id` when it has none), as `pulse produce` does.",
            self.topic, first, partition,
        )  # fmt: skip

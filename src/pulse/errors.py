"""The exceptions pulse raises, one tree, translated once at each seam.

```
PulseError                      base of everything pulse raises on purpose
├── ConfigError                 bad options or environment; not retriable
├── RuleError                   a rules file is invalid; lists every problem; not retriable
├── EventError                  one input event is malformed; becomes a dead letter
├── StateError                  Redis failed or holds unexpected data; retriable
└── ConnectorError              a source or sink failed (file, Kafka); retriable
```

`retriable` says whether the same operation may succeed if tried again later.
"""

from __future__ import annotations


class PulseError(Exception):
    """Base class of the errors pulse raises on purpose."""

    retriable: bool = False


class ConfigError(PulseError):
    """An option, environment variable or file path is wrong."""


class RuleError(PulseError):
    """A rules file is invalid; `problems` holds every message, each naming its place."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class EventError(PulseError):
    """One input event is malformed; the flow turns it into a dead letter."""


class StateError(PulseError):
    """Redis could not be reached or holds data pulse cannot read."""

    retriable = True


class ConnectorError(PulseError):
    """A source or sink failed."""

    retriable = True

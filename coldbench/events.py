"""Events the engine publishes; the store, progress display and others subscribe (locust style).

The engine imports neither store nor progress: it only calls `EventBus.publish`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coldbench.sample import Sample


@dataclass(frozen=True, slots=True)
class SampleRecorded:
    """A probe finished (successfully or not) and its sample is final."""

    sample: Sample


@dataclass(frozen=True, slots=True)
class ProbeScheduled:
    """The next probe on `target` will be sent at monotonic time `due_ns`."""

    target: str
    due_ns: int


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The engine stopped; `status` is complete | interrupted | failed."""

    status: str


Handler = Callable[[Any], None]


class EventBus:
    """Synchronous publish/subscribe. Handlers run in the publisher's thread, in order."""

    def __init__(self) -> None:
        self._handlers: list[tuple[type, Handler]] = []

    def subscribe(self, event_type: type, handler: Handler) -> None:
        """Call `handler(event)` for every published event of `event_type`."""
        self._handlers.append((event_type, handler))

    def publish(self, event: object) -> None:
        """Deliver `event` to every subscribed handler of its type."""
        for event_type, handler in self._handlers:
            if isinstance(event, event_type):
                handler(event)

"""The composition root: builds each process's object graph from settings, and nothing at import."""

from __future__ import annotations

from dataclasses import dataclass, field

from order_service.http.ops import ReadinessCheck
from order_service.settings import Settings


@dataclass
class Container:
    """What a process needs, built once at start and closed at stop."""

    settings: Settings
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)

    def close(self) -> None:
        """Release engine connections."""


def bootstrap(settings: Settings) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Container(settings=settings)

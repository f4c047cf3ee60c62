"""The ``orders`` command: thin entry points, grouped here, each calling the package that owns
the logic (``main`` the processes, ``operator`` projections, seeding and snapshots,
``generations`` rebuilds, ``archive``, ``keys``; ``output`` what they print and how)."""

from order_service.cli.main import main, run

__all__ = ["main", "run"]

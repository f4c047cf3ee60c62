"""What the projector runs before following the log when the serving generation cannot simply
be followed: a schema-version bump (it was built by another declaration of the projection
than this code's), or a first build over an archived log.

When the projection declares the bump additive (``additive_from``), the serving generation
is migrated in place: the new indexed fields added and filled from its documents, and the
generation recorded at the new version. Otherwise a new generation is built beside it from
the whole log (a rebuild, resumable), and reads switch to it only once parity holds. Until
then the older generation keeps answering (as of its last position), so a deploy never
crash-loops on an older read model.

A projection that has never run, on a log whose finished orders are archived, would miss
those orders if it followed the hot log only. Its first build reads the whole history (the
archive and the hot log, merged by position) into a new generation, in large batches and
resumably, and switches to it when done (a projection that can start an order from its
snapshot takes the archived orders from their final snapshots instead); reads answer 503
with its progress meanwhile (``ProjectionBuildingError``), not the empty answers of the
generation never written.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from order_service.archive.cold import ColdArchive
from order_service.eventstore.port import EventStore
from order_service.personal.codec import PersonalData
from projectors.port import Generational
from projectors.projection import Projection
from projectors.rebuilds.parity import Breakdown
from projectors.rebuilds.partitions import PartitionFailedError
from projectors.rebuilds.rebuild import Rebuild, RebuildOptions, RebuildReport, RebuildStoppedError

log = logging.getLogger(__name__)


class UpgradeRefusedError(RuntimeError):
    """The new generation is built but parity does not hold: the older one keeps serving."""


@dataclass
class SchemaUpgrade:
    store: EventStore
    archive: ColdArchive | None
    generations: Generational[Any]
    personal: PersonalData
    projection: Projection
    breakdown: Breakdown | None = None
    options: RebuildOptions = field(default_factory=RebuildOptions)

    def serving_version(self) -> int | None:
        return self.generations.schema_version(self.generations.active())

    def due(self) -> bool:
        return self.bumped() or self.first_build()

    def bumped(self) -> bool:
        version = self.serving_version()
        return version is not None and version != self.projection.schema_version

    def first_build(self) -> bool:
        """Never run (no checkpoint) while the archive holds orders the hot log lacks."""
        if self.archive is None or not self.archive.exists() or not self.archive.files():
            return False
        active = self.generations.open(self.generations.active())
        return active.checkpoint().position is None

    def additive(self) -> bool:
        version, since = self.serving_version(), self.projection.additive_from
        return version is not None and since is not None and since <= version

    def apply(self, stopped: Callable[[], bool] = lambda: False) -> bool:
        """Run the upgrade; False (said in the log, without a trace) when parity refused the
        switch, a worker of a partitioned build died, or ``stopped()`` became true: the caller
        tries again later (resuming), the older generation serving meanwhile."""
        self.options.stopped = stopped
        try:
            self.run()
        except UpgradeRefusedError as refused:
            log.error("%s", refused)
            return False
        except RebuildStoppedError:
            log.info(
                "%s: schema upgrade stopped; it resumes on the next start", self.projection.name
            )
            return False
        except PartitionFailedError as failed:  # a worker died: resumed at the next try
            log.error("%s", failed)
            return False
        return True

    def run(self) -> RebuildReport | list[str]:
        """Migrate (the fields added) or rebuild (its report); raises when parity fails."""
        active = self.generations.active()
        name, version = self.projection.name, self.serving_version()
        target = self.projection.schema_version
        if not self.bumped() and self.first_build():
            log.info("%s has never run and the log is archived: building it from both", name)
            # Nothing serves yet to compare with: the new generation is switched to when built.
            # Archived orders start from their final snapshots where the projection can.
            options = dataclasses.replace(
                self.options, force=True, from_snapshots=self.projection.from_snapshots
            )
            return self._rebuild(options)
        if self.additive() and version is not None and version < target:
            store = self.generations.open(active)
            if not hasattr(store, "add_fields"):
                raise TypeError(f"{name}'s read model cannot add fields in place")
            added: list[str] = store.add_fields()
            self.generations.set_schema_version(active, target)
            log.info(
                "%s %s migrated from schema %s to %s: added %s",
                name,
                active,
                version,
                target,
                ", ".join(added) or "nothing",
            )
            return added
        log.info(
            "%s %s is schema %s, this code writes %s: building a new generation",
            name,
            active,
            version,
            target,
        )
        report = self._rebuild(self.options)
        if not report.switched:
            raise UpgradeRefusedError(
                f"{name}: {report.generation} (schema {target}) is built but not switched to"
                f" ({'; '.join(report.refused)}); {active} (schema {version}) keeps serving."
                f" Check, then `orders projection rebuild {name} --force` to switch anyway"
            )
        return report

    def _rebuild(self, options: RebuildOptions) -> RebuildReport:
        return Rebuild(
            self.store,
            self.archive,
            self.generations,
            self.personal,
            options,
            projection=self.projection,
            breakdown=self.breakdown,
        ).run()

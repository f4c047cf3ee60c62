"""The heartbeat rule, with a real projector process: while events wait, a checkpoint that
does not move for STALLED_AFTER_S means the projector is gone: `stalled`, not `catching_up`."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from order_service.bootstrap import bootstrap
from order_service.settings import Settings
from projectors.order_search import NAME
from projectors.status import STALLED_AFTER_S, projection_status
from tests.projector.test_kill_and_resume import start_projector, wait_for_checkpoint
from tests.projector.test_projector import head, seed


def test_a_dead_projector_is_stalled_as_soon_as_its_heartbeat_is_missed(tmp_path: Path) -> None:
    container = bootstrap(Settings(data_dir=tmp_path / "var"))
    store, index = container.event_store, container.search_index
    seed(store, 3)
    projector = start_projector({"ORDERS_DATA_DIR": str(tmp_path / "var")}, tmp_path)
    try:
        wait_for_checkpoint(index, head(store))
        live = projection_status(store, index, name=NAME).state
        projector.send_signal(signal.SIGKILL)
        projector.wait(timeout=30)
        seed(store, 1)  # an event waits, and nobody projects it
        waiting_since = time.monotonic()
        states = []
        while (state := projection_status(store, index, name=NAME).state) != "stalled":
            states.append(state)
            assert time.monotonic() - waiting_since < 3 * STALLED_AFTER_S, states
            time.sleep(0.2)  # polling the status an operator would see
        noticed_after = time.monotonic() - waiting_since
    finally:
        projector.kill()
        container.close()

    assert live == "live"
    assert noticed_after < 2 * STALLED_AFTER_S

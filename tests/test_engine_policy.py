from __future__ import annotations

import pytest

from tests.engines import engine_missing


def test_a_missing_engine_skips_locally_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="how to get it"):
        engine_missing("how to get it")


def test_a_missing_engine_fails_the_run_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        engine_missing("how to get it")

"""Schema fuzzing of the running API (schemathesis over real HTTP): no 5xx but the documented
503s, and every status an operation gives is one its OpenAPI document lists."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.servers import orders_process

EXAMPLES_PER_OPERATION = 40
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@pytest.mark.slow
def test_no_input_yields_a_server_error_or_an_undocumented_status(tmp_path: Path) -> None:
    with orders_process(["up"], tmp_path) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        calls = 0
        for operation, mode in itertools.product(operations, MODES):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,  # the same cases every run: CI fails only on a regression
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(checks=[not_a_server_error, status_code_conformance])

            try:
                fuzz()
            except Unsatisfiable:
                # Nothing can be invalid about an operation without parameters or body.
                assert mode is GenerationMode.NEGATIVE

    assert len(operations) >= 12
    assert calls >= len(operations) * len(MODES) * 5

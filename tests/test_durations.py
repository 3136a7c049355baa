"""One duration grammar (tpf.core.durations): configuration values and await step timeouts agree."""

from __future__ import annotations

import re

import msgspec
import pytest

from tpf.authoring.pipeline import Pipeline
from tpf.config import load_settings
from tpf.core.durations import parse_duration_ms
from tpf.core.errors import ConfigError

CASES = [
    ("PT10S", 10_000),
    ("PT0.5S", 500),
    ("PT0,5S", 500),
    ("PT2M", 120_000),
    ("pt2m", 120_000),
    ("PT1H30M", 5_400_000),
    ("P1D", 86_400_000),
    ("P14D", 14 * 86_400_000),
    ("P1DT2H", 93_600_000),
    ("P1DT1S", 86_401_000),
    ("PT0.0005S", 1),  # rounded half up, as the configuration always did
    ("pt0s", 0),
    ("250", 250),
    ("10s", 10_000),
    ("30M", 1_800_000),  # Quarkus' short form: minutes
    ("1h", 3_600_000),
    ("500ms", 500),
]
MALFORMED = ["", "P", "PT", "P1DT", "10 seconds", "PT-1S", "-5", "PTS", "1.5", "PTXM", "P1Y", "P1W"]


class Item(msgspec.Struct):
    name: str


def await_timeout_ms(timeout: str | int) -> int:
    pipeline = Pipeline("p")

    @pipeline.step("First")
    def first(item: Item) -> Item:
        return item

    pipeline.await_step("Approve", step_id="approve", output=Item, timeout=timeout)
    timeout_ms = pipeline.steps[1].timeout_ms
    assert timeout_ms is not None
    return timeout_ms


@pytest.mark.parametrize(("text", "ms"), CASES)
def test_config_and_await_timeouts_read_a_duration_alike(text: str, ms: int) -> None:
    assert parse_duration_ms(text, name="k") == ms
    settings = load_settings({"PIPELINE_ORCHESTRATOR_RETRY_DELAY": text})
    assert settings.retries.delay_ms == ms
    assert await_timeout_ms(text) == ms


def test_an_await_timeout_may_be_milliseconds_from_code() -> None:
    assert await_timeout_ms(250) == 250


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_duration_names_the_parameter(text: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("my.key")):
        parse_duration_ms(text, name="my.key")
    with pytest.raises(ConfigError, match=re.escape("await step 'Approve': timeout")):
        await_timeout_ms(text)


@pytest.mark.parametrize("value", [-5, True, 1.5, None])
def test_await_timeout_of_the_wrong_kind_names_the_step(value: object) -> None:
    with pytest.raises(ConfigError, match=re.escape("await step 'Approve': timeout")):
        await_timeout_ms(value)  # type: ignore[arg-type]

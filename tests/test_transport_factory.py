"""Providers the configuration accepts but this build cannot run fail startup, by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpf.config.settings import Settings, StateSettings
from tpf.coordinator import Coordinator
from tpf.core.errors import ConfigError


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("state__provider", "cassandra", "state-provider=cassandra"),
    ],
)
async def test_unbuilt_provider_fails_startup(
    tmp_path: Path, field: str, value: str, named: str
) -> None:
    settings = Settings(state=StateSettings(dir=str(tmp_path))).replace(**{field: value})
    with pytest.raises(ConfigError) as info:
        await Coordinator.open(settings)
    assert named in str(info.value)
    assert "not available in this build" in str(info.value)


async def test_a_built_provider_missing_a_setting_names_it(tmp_path: Path) -> None:
    # The Kafka await channel is built now: without a broker address it says which key.
    settings = Settings(state=StateSettings(dir=str(tmp_path))).replace(awaits__transport="kafka")
    with pytest.raises(ConfigError) as info:
        await Coordinator.open(settings)
    assert str(info.value) == "kafka.bootstrap-servers is required when tpf.await-transport=kafka"


async def test_default_configuration_opens_the_embedded_coordinator(tmp_path: Path) -> None:
    coordinator = await Coordinator.open(Settings(state=StateSettings(dir=str(tmp_path))))
    try:
        assert (tmp_path / "tpf.sqlite3").exists()
        assert await coordinator.stores.executions.count_by_status() == {}
    finally:
        await coordinator.close()

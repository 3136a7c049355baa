"""Settings in sections: every key lands in its section, and Settings.replace's spelling."""

from __future__ import annotations

import pytest

from tpf.config import load_settings, supported_keys
from tpf.config.settings import ExecutionSettings, Settings, field_paths, value_at


def test_every_section_field_is_set_by_exactly_one_key() -> None:
    paths = list(supported_keys().values())
    assert sorted(paths) == sorted(field_paths())
    assert len(set(paths)) == len(paths)


def test_a_key_sets_its_section_field_and_nothing_else() -> None:
    settings = load_settings({}, overrides={"tpf.sqs.receivers": "7", "lease-ms": "1234"})
    assert settings.sqs.receivers == 7
    assert settings.execution.lease_ms == 1234
    changed = [p for p in field_paths() if value_at(settings, p) != value_at(Settings(), p)]
    assert changed == ["execution.lease_ms", "sqs.receivers"]


def test_replace_changes_fields_and_whole_sections() -> None:
    base = Settings()
    changed = base.replace(execution__lease_ms=5, http__port=9)
    assert (changed.execution.lease_ms, changed.http.port) == (5, 9)
    assert changed.execution.ttl_days == base.execution.ttl_days  # the rest of the section kept
    assert base.execution.lease_ms == 30_000  # frozen: the original is untouched
    whole = base.replace(execution=ExecutionSettings(mode="QUEUE_ASYNC", lease_ms=7))
    assert whole.execution == ExecutionSettings(lease_ms=7)


@pytest.mark.parametrize("name", ["lease_ms", "execution__lease", "nowhere__lease_ms"])
def test_replace_refuses_unknown_names_with_a_hint(name: str) -> None:
    with pytest.raises(TypeError, match=name):
        Settings().replace(**{name: 1})
    with pytest.raises(TypeError, match="did you mean execution__lease_ms"):
        Settings().replace(execution__lease_m=1)

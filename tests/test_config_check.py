"""tpf.config.check: every error at once, the effective configuration, and the checks that
look across keys (token references, TPF_* typos, REST surfaces)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tpf.config import load_settings, parse_properties, supported_keys
from tpf.config.check import check_configuration, effective_configuration, warnings
from tpf.core.errors import ConfigError

P = "pipeline.orchestrator."


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "app.properties"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_every_error_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"{P}max-retries=lots\n"  # a bad value
        f"{P}state-provdier=memory\n"  # an unknown key
        f"{P}lease-ms\n"  # a malformed line: no value
        "tpf.http.port=70000\n"  # out of range
        f"{P}control-plane.enabled=true\n"
        f"{P}control-plane.admin-token-ref=env:NOT_SET_ANYWHERE\n",  # does not resolve
    )
    env = {"TPF_STATE_PROVDER": "memory"}  # a misspelt short form
    report = check_configuration(env, config_file=path)
    expected = [
        f"{P}max-retries: expected an integer",
        f"{P}state-provdier: unknown configuration key",
        "line 3:",
        "tpf.http.port: must be at most 65535, got 70000",
        "environment variable NOT_SET_ANYWHERE is not set",
        "TPF_STATE_PROVDER: unknown configuration variable",
    ]
    for fragment in expected:
        assert any(fragment in error for error in report.errors), (fragment, report.errors)
    assert len(report.errors) == len(expected)
    # load_settings (and so tpf serve) refuses with the same list.
    with pytest.raises(ConfigError) as info:
        load_settings(env, config_file=path)
    assert info.value.message.startswith(f"{len(expected)} configuration errors:")
    for fragment in expected:
        assert fragment in info.value.message


def test_a_short_form_typo_suggests_the_short_form() -> None:
    report = check_configuration({"TPF_STATE_PROVDER": "memory"})
    assert report.errors == (
        "TPF_STATE_PROVDER: unknown configuration variable (environment variable); "
        "did you mean TPF_STATE_PROVIDER?",
    )


def test_tpf_variables_the_cli_reads_or_a_reference_names_are_not_typos() -> None:
    env = {
        "TPF_BASE_URL": "http://127.0.0.1:1",
        "TPF_TENANT": "t",
        "TPF_CONTROL_PLANE_TOKEN": "a",
        "TPF_ADMIN_TOKEN": "b",
        "TPF_CONFIG": "",
        "TPF_MY_RESUME_KEY": "k",  # named by the reference below
        "TPF_RETRY_JITTER": "0.2",  # the environment form of tpf.retry-jitter
        "TPF_FUZZ_EXAMPLES": "3000",  # the test suite's fuzz budgets
        "TPF_OPENAPI_FUZZ_EXAMPLES": "200",
        "TPF_WORKER_SECRET": "s",  # the recipe's worker secret: named by another process's config
        f"{P.upper().replace('.', '_')}RESUME_TOKEN_SECRET": "env:TPF_MY_RESUME_KEY",
    }
    report = check_configuration(env)
    assert report.errors == ()
    assert report.settings.retries.jitter == 0.2


def test_an_unresolvable_reference_is_refused_and_a_resolvable_one_kept() -> None:
    overrides = {"admin.enabled": "true", "admin.admin-token-ref": "env:ADMIN_SECRET"}
    with pytest.raises(ConfigError, match=re.escape(f"{P}admin.admin-token-ref: ")):
        load_settings({}, overrides=overrides)
    with pytest.raises(ConfigError, match="is empty"):
        load_settings({"ADMIN_SECRET": ""}, overrides=overrides)
    settings = load_settings({"ADMIN_SECRET": "s3cret"}, overrides=overrides)
    assert settings.admin.token_ref == "env:ADMIN_SECRET"  # still resolved per request


@pytest.mark.parametrize(("port", "ok"), [("0", True), ("65535", True), ("65536", False)])
def test_port_range(port: str, ok: bool) -> None:
    if ok:
        assert load_settings({"TPF_HTTP_PORT": port}).http.port == int(port)
    else:
        with pytest.raises(ConfigError, match=re.escape("tpf.http.port: must be at most 65535")):
            load_settings({"TPF_HTTP_PORT": port})


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (f"{P}max-retries", "has no value"),
        ("max-retries3", "has no value"),
        ("=5", "no key"),
        ("key = caf\\u00zz", "malformed \\uxxxx escape"),
    ],
)
def test_malformed_properties_lines_are_refused_with_their_number(line: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_properties(f"# comment\ngood=1\n{line}\n")
    assert "line 3:" in info.value.message and fragment in info.value.message


def test_effective_configuration_lists_every_key_and_marks_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, f"{P}max-retries=5\n{P}admin.enabled=true\n{P}admin.admin-token=t0p\n")
    report = check_configuration({"TPF_LEASE_MS": "5000"}, config_file=path)
    assert report.errors == ()
    lines = effective_configuration(report)
    assert [line.split(" = ")[0] for line in lines] == list(supported_keys())
    assert f"{P}max-retries = 5  (in {path})" in lines
    assert f"{P}lease-ms = 5000  (set by TPF_LEASE_MS)" in lines
    assert f"{P}sweep-limit = 100  (default)" in lines
    assert "tpf.sqlite.path = <state-dir>/tpf.sqlite3  (default)" in lines
    assert f"{P}admin.admin-token = <redacted>  (in {path})" in lines
    assert not any("t0p" in line for line in lines)


def test_both_surfaces_off_warns_that_every_route_answers_404() -> None:
    [warning] = warnings(load_settings({}))
    assert "every /tpf/ API route will answer 404" in warning
    assert f"{P}control-plane.enabled" in warning and f"{P}admin.enabled" in warning
    admin_on = {"admin.enabled": "true", "admin.admin-token": "x"}
    assert warnings(load_settings({}, overrides=admin_on)) == []


def test_settings_parsed_but_not_implemented_are_reported_as_unsupported() -> None:
    env = {
        "PIPELINE_ORCHESTRATOR_PIPELINE_ID": "x",
        "PIPELINE_ORCHESTRATOR_RELEASE_VERSION": "v1",
        "PIPELINE_ORCHESTRATOR_WORKER_SATURATED_DELAY": "PT2S",
    }
    found = warnings(load_settings(env))
    for key in ("pipeline-id", "release-version", "worker.saturated-delay"):
        assert f"{P}{key} is accepted but not supported yet by this build; it has no effect" in (
            found
        )


def test_static_aws_credentials_are_a_pair_and_the_secret_stays_out_of_output() -> None:
    with pytest.raises(ConfigError, match="must be set together"):
        load_settings({"TPF_AWS_ACCESS_KEY_ID": "AKIA"})
    env = {"TPF_AWS_ACCESS_KEY_ID": "AKIA", "TPF_AWS_SECRET_ACCESS_KEY": "env:MY_AWS_SECRET"}
    with pytest.raises(ConfigError, match="MY_AWS_SECRET is not set"):
        load_settings(env)
    report = check_configuration({**env, "MY_AWS_SECRET": "wJalr"})
    assert report.errors == ()
    lines = effective_configuration(report)
    assert (
        "tpf.aws.secret-access-key = env:MY_AWS_SECRET  (set by TPF_AWS_SECRET_ACCESS_KEY)" in lines
    )
    literal = check_configuration(
        {"TPF_AWS_ACCESS_KEY_ID": "AKIA", "TPF_AWS_SECRET_ACCESS_KEY": "wJalr"}
    )
    assert "tpf.aws.secret-access-key = <redacted>  (set by TPF_AWS_SECRET_ACCESS_KEY)" in (
        effective_configuration(literal)
    )


def test_the_metrics_token_is_a_secret_whose_reference_must_resolve() -> None:
    overrides = {"tpf.http.metrics-token": "env:METRICS_TOKEN"}
    with pytest.raises(ConfigError, match=re.escape("tpf.http.metrics-token: ")):
        load_settings({}, overrides=overrides)
    settings = load_settings({"METRICS_TOKEN": "m3trics"}, overrides=overrides)
    assert settings.http.metrics_token == "env:METRICS_TOKEN"  # resolved per request
    literal = check_configuration({}, overrides={"tpf.http.metrics-token": "m3trics"})
    assert literal.errors == ()
    assert "tpf.http.metrics-token = <redacted>  (override)" in effective_configuration(literal)

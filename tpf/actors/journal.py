"""Writing an execution's journal: the history entry each commit carries, and its step ids.

Every commit of an execution goes through :func:`noted` first, which appends one
:class:`~tpf.core.history.HistoryEntry` to the record it is about to write (so the entry commits
in the same compare-and-set as the change) and keeps ``current_step_id`` naming the step at
``current_step_index`` (search filters on it). Step ids come from the release's contract, read
once per pinned identity and cached (:class:`StepIds`): a commit costs no extra store read.

A transition's run time is measured from its claim: the lease write stamps
``updated_at_epoch_ms``, so the record the transition ran under tells when it started. A
takeover (the lease was claimed after another owner's ran out) shows as a claimed record newer
than its last entry while that entry left the execution RUNNING: a commit that ends a
transition never leaves it RUNNING, so only a re-claim after a lost lease gets there.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tpf.core.history import HistoryEntry, append
from tpf.core.records import ExecutionRecord, ExecutionStatus, ReleaseRecord
from tpf.core.streams import StreamPlan, plan_of_contract
from tpf.stores.base import ReleaseStore

Identity = tuple[str, str, str, str]  # tenant, pipeline, contract version, release version


class StepIds:
    """The step ids of each pinned release, from its contract (cached; ``()`` when unknown),
    which of its steps take a ``StepContext`` (the contract's ``takesContext``) and their
    authored names (what a stored context is keyed by)."""

    def __init__(self) -> None:
        self._known: dict[Identity, tuple[str, ...]] = {}
        self._readers: dict[Identity, tuple[int, ...]] = {}
        self._names: dict[Identity, tuple[str, ...]] = {}
        self._streams: dict[Identity, StreamPlan | None] = {}

    async def of(self, releases: ReleaseStore, record: ExecutionRecord) -> tuple[str, ...]:
        key = _identity(record)
        known = self._known.get(key)
        if known is not None:
            return known
        release = await releases.get(record.tenant_id, record.pipeline_id, record.release_version)
        steps: tuple[str, ...] = ()
        readers: tuple[int, ...] = ()
        names: tuple[str, ...] = ()
        plan: StreamPlan | None = None
        if release is not None and release.contract:
            plan = plan_of_contract(release.contract)
            raw = release.contract.get("steps") or []
            by_index = sorted(
                (
                    s.get("index", i),
                    str(s.get("stepId", "")),
                    s.get("takesContext") is True,
                    str(s.get("authoredName", "")),
                )
                for i, s in enumerate(raw)
            )
            steps = tuple(entry[1] for entry in by_index)
            readers = tuple(i for i, entry in enumerate(by_index) if entry[2])
            names = tuple(entry[3] for entry in by_index)
        if release is not None:  # a release is immutable: what it says now it always says
            self._known[key] = steps
            self._readers[key] = readers
            self._names[key] = names
            self._streams[key] = plan
        return steps

    async def readers(self, releases: ReleaseStore, record: ExecutionRecord) -> tuple[int, ...]:
        """Indexes of the steps of ``record``'s release that take a context."""
        await self.of(releases, record)
        return self._readers.get(_identity(record), ())

    async def names(self, releases: ReleaseStore, record: ExecutionRecord) -> tuple[str, ...]:
        """The authored step names of ``record``'s release, by index (a stored context's keys)."""
        await self.of(releases, record)
        return self._names.get(_identity(record), ())

    def plan_of(self, release: ReleaseRecord) -> StreamPlan | None:
        """The stream of ``release`` (what a submit checks its input shape against), read
        from its contract once per release: a release is immutable."""
        key = (
            release.tenant_id,
            release.pipeline_id,
            release.contract_version,
            release.release_version,
        )
        if key not in self._streams:
            self._streams[key] = plan_of_contract(release.contract)
        return self._streams[key]

    async def stream(self, releases: ReleaseStore, record: ExecutionRecord) -> StreamPlan | None:
        """The stream of ``record``'s release (:mod:`tpf.core.streams`); ``None`` without one."""
        await self.of(releases, record)
        return self._streams.get(_identity(record))

    def remember(
        self, record: ExecutionRecord, step_ids: tuple[str, ...], readers: tuple[int, ...] = ()
    ) -> None:
        """Known step ids for ``record``'s release (a test, or code hosted here)."""
        self._known[_identity(record)] = step_ids
        self._readers[_identity(record)] = readers


def _identity(record: ExecutionRecord) -> Identity:
    return (record.tenant_id, record.pipeline_id, record.contract_version, record.release_version)


def step_id(step_ids: tuple[str, ...], index: int) -> str | None:
    return step_ids[index] if 0 <= index < len(step_ids) else None


def took_over(claimed: ExecutionRecord) -> bool:
    """Whether ``claimed`` was claimed after another lease ran out (see the module doc)."""
    if not claimed.history:
        return False
    last = claimed.history[-1]
    return (
        last.to_status == ExecutionStatus.RUNNING.value
        and claimed.updated_at_epoch_ms != last.at_epoch_ms
    )


def noted(
    before: ExecutionRecord | None,
    after: ExecutionRecord,
    kind: str,
    step_ids: tuple[str, ...],
    *,
    coordinator_id: str | None,
    claimed: ExecutionRecord | None = None,
    **fields: Any,
) -> ExecutionRecord:
    """``after`` with the entry for the change from ``before`` appended and its step id set.

    ``claimed``, when the change ends a transition run under that claim, adds the run time and
    whether the claim was a takeover. ``fields`` are the entry's optional fields (error code,
    interaction, who completed it, the operator's reason...).
    """
    current = step_id(step_ids, after.current_step_index)
    if claimed is not None:
        fields.setdefault(
            "duration_ms", max(0, after.updated_at_epoch_ms - claimed.updated_at_epoch_ms)
        )
        if took_over(claimed):
            fields["took_over"] = True
    entry = HistoryEntry(
        at_epoch_ms=after.updated_at_epoch_ms,
        kind=kind,
        from_status=before.status.value if before is not None else None,
        to_status=after.status.value,
        step_index=after.current_step_index,
        step_id=current,
        attempt=after.attempt,
        coordinator_id=coordinator_id,
        **fields,
    )
    history, dropped = append(after.history, after.history_dropped, entry)
    return msgspec.structs.replace(
        after, history=history, history_dropped=dropped, current_step_id=current
    )

"""An expanded execution's items phase: dispatch within the window, apply each answer once.

One coordinator runs the phase at a time: the one holding the execution's lease (the lease
keeper renews it however long the items take; a takeover starts a fresh run elsewhere). The
durable state is the item store and the await store, never this object, so a run may die at
any point and the next one continues from what is stored:

- an item is dispatched by taking an admission slot, creating its interaction (derived ids: a
  re-run finds the same one) and then marking the item ``AWAITING`` (one write, where the store
  writes both together: :mod:`tpf.actors.stream_writes`); a run that finds a ``PENDING`` item
  whose interaction exists just marks it;
- an answer (a completion, or a timeout) is applied by running the per-item steps after the
  await, then writing the item ``DONE`` with its output (compare-and-set: the first writer wins,
  so each item's output counts exactly once), then marking the interaction applied and freeing
  the slot; a run that starts finds answered ``AWAITING`` items and applies them;
- at most ``pipeline.max-concurrency`` items are ``AWAITING`` at once (the live window), and
  the admission budget, when configured, bounds them across executions and coordinators.

Answers admitted by this coordinator arrive in the session's inbox
(:mod:`tpf.actors.stream_sessions`); answers admitted elsewhere are found by a rescan of the
in-flight items every :data:`RESCAN_S`. Items are read a page at a time; only the in-flight
ones (at most the window) are held.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from typing import Any

import msgspec

from tpf.actors.context import Engine
from tpf.actors.stream_items import ItemFailed, ItemSteps
from tpf.actors.stream_outputs import PAGE, item_pages
from tpf.actors.stream_writes import ItemWrites
from tpf.core import crash_points as cp
from tpf.core import interactions as inter
from tpf.core.items import ItemProgress, ItemStatus, StreamItem
from tpf.core.records import AwaitInteraction, ExecutionRecord, InteractionStatus
from tpf.core.streams import StreamPlan, budget_scope

LOG = logging.getLogger("tpf.streams")
RESCAN_S = 0.5  # how often a run looks for answers admitted by another coordinator
replace = msgspec.structs.replace


class StreamRun:
    def __init__(
        self, engine: Engine, plan: StreamPlan, record: ExecutionRecord, steps: ItemSteps
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.record = record
        self.steps = steps
        self.writes = ItemWrites(engine, record)
        self.total = record.items.total if record.items is not None else 0
        self.window = max(1, engine.settings.execution.max_concurrency)
        self.in_flight: dict[int, StreamItem] = {}  # AWAITING items, by index
        self.finishing: dict[int, asyncio.Task[None]] = {}
        self.pending: deque[StreamItem] = deque()  # PENDING items read ahead, in index order
        self.cursor = 0  # where the next read of PENDING items starts
        self.exhausted = False  # no PENDING item left at or after the cursor
        self.done = 0
        self.failed = 0
        self.branches: Counter[str] = Counter()
        self.error: ItemFailed | None = None
        self.budget_full = False
        self.next_rescan = 0.0  # loop time of the next rescan (0: at the first chance)

    # ------------------------------------------------------------------ the run

    async def run(self) -> ItemProgress:
        """Run the items until each is done; raise :class:`ItemFailed` when one cannot be."""
        engine, record = self.engine, self.record
        session = engine.streams.open(record.tenant_id, record.execution_id)
        self.inbox = session.inbox
        self.session = session
        try:
            await self._scan()
            while self.error is None:
                await self._fill()
                self._publish_progress()
                if not self.in_flight and self.exhausted and not self.pending:
                    break
                await self._next()
            if self.error is not None:
                raise self.error
            return self._progress()
        finally:
            for task in self.finishing.values():
                task.cancel()
            engine.metrics.items_in_flight.dec(session.progress.in_flight)
            engine.streams.close(record.tenant_id, record.execution_id, session)

    async def _next(self) -> None:
        """Apply the next answer; rescan the in-flight items every :data:`RESCAN_S`, however
        busy the inbox (answers admitted elsewhere arrive only that way)."""
        loop = asyncio.get_running_loop()
        wait = max(0.0, self.next_rescan - loop.time())
        self.engine.streams.wait_begins(self.session, bool(wait) and not self.finishing)
        try:
            got = await asyncio.wait_for(self.inbox.get(), wait) if wait else None
        except TimeoutError:
            got = None
        finally:
            self.session.waiting = False
        if got is not None:
            self._answered(got)
        if loop.time() >= self.next_rescan:
            self.next_rescan = loop.time() + RESCAN_S
            await self._rescan()

    def _answered(self, interaction: AwaitInteraction) -> None:
        index = interaction.item_index
        if index is None or interaction.pending or index in self.finishing:
            return
        item = self.in_flight.get(index)
        if item is None or item.interaction_id != interaction.interaction_id:
            return  # a duplicate, or an answer to an interaction this item no longer waits on
        task = asyncio.ensure_future(self._finish(item, interaction))
        self.finishing[index] = task

    async def _rescan(self, reclaim: bool = False) -> None:
        """Apply the in-flight items' answers admitted elsewhere; with ``reclaim`` (a run that
        starts) also take their admission slots again: the same owner reuses a slot it still
        holds, and one that expired while nobody ran the items is taken anew."""
        engine = self.engine
        waiting = [
            (index, item)
            for index, item in self.in_flight.items()
            if index not in self.finishing and item.interaction_id is not None
        ]
        # One batched read of the whole window (a request per item every RESCAN_S was most
        # of the HA shape's DynamoDB reads); each is as current as a single read would be.
        stored = (
            await engine.stores.awaits.get_many(
                self.record.tenant_id,
                [item.interaction_id for _, item in waiting if item.interaction_id],
            )
            if waiting
            else {}
        )
        for index, item in waiting:
            if index in self.finishing:
                continue  # its answer arrived while the read was out
            found = stored.get(item.interaction_id or "")
            if found is None:
                continue
            if reclaim and found.pending and engine.budget is not None:
                scope = budget_scope(self.record.pipeline_id, found)
                expires = found.deadline_epoch_ms + engine.settings.execution.lease_ms
                now = engine.clock.now_ms()
                if not await engine.budget.acquire(
                    scope, found.interaction_id, self.window, now, expires
                ):
                    # Dispatched already: it stays open; the budget is over by one until it
                    # is answered (others took the expired slot meanwhile).
                    LOG.warning("item %d of %s holds no admission slot", index, item.execution_id)
            if not found.pending:
                self._answered(found)
        self.budget_full = False  # slots may have freed elsewhere: try again

    # ------------------------------------------------------------------ start: what is stored

    async def _scan(self) -> None:
        """Count what is done and pick up the in-flight items, a page at a time."""
        seen = 0
        first_pending: int | None = None
        async for page in item_pages(self.engine, self.record):
            seen += len(page)
            for item in page:
                if item.status is ItemStatus.DONE:
                    self.done += 1
                    if item.branch:
                        self.branches[item.branch] += 1
                elif item.status is ItemStatus.AWAITING:
                    self.in_flight[item.item_index] = item
                elif first_pending is None:  # PENDING, or FAILED (a re-drive retries it)
                    first_pending = item.item_index
        if seen != self.total:  # never finish on a partial stream: the expansion said N
            raise ItemFailed(
                f"the item store has {seen} of the execution's {self.total} items",
                "STREAM_ITEMS_MISSING",
            )
        self.cursor = first_pending if first_pending is not None else self.total
        self.exhausted = first_pending is None
        await self._rescan(reclaim=True)

    # ------------------------------------------------------------------ dispatch

    async def _fill(self) -> None:
        """Dispatch PENDING items while the window (and the budget) has room."""
        while not self.budget_full and self.error is None:
            room = self.window - len(self.in_flight)
            if room <= 0:
                return
            batch = await self._take(room)
            if not batch:
                return
            await asyncio.gather(*(self._dispatch(item) for item in batch))

    async def _take(self, count: int) -> list[StreamItem]:
        if not self.pending and not self.exhausted:
            record = self.record
            page = await self.engine.stores.items.page(
                record.tenant_id, record.execution_id, start=self.cursor, limit=PAGE
            )
            waiting = [i for i in page if i.status in (ItemStatus.PENDING, ItemStatus.FAILED)]
            self.pending.extend(waiting)
            if len(page) < PAGE:
                self.exhausted = True
            else:
                self.cursor = page[-1].item_index + 1
        return [self.pending.popleft() for _ in range(min(count, len(self.pending)))]

    async def _dispatch(self, item: StreamItem) -> None:
        engine, plan, record = self.engine, self.plan, self.record
        step = plan.await_step
        try:
            value = await self.steps.run(item.item_index, plan.item_ranges()[0], item.payload)
        except ItemFailed as exc:
            self.error = exc
            return
        if step is None:  # no await: the item is answered by its own steps
            await self._complete(item, value, None)
            return
        now = engine.clock.now_ms()
        created = inter.new_interaction(
            tenant_id=record.tenant_id,
            execution_id=record.execution_id,
            step_id=step.step_id,
            step_index=step.index,
            attempt=record.attempt,
            output_type=step.output_type_id,
            request_payload=value,
            key_fields=step.idempotency_key_fields or (),
            timeout_ms=step.await_timeout_ms or 0,
            now_ms=now,
            transport_type=step.await_transport or "interaction-api",
            transport_metadata=_metadata(step.input_type_id, step.await_transport_spec),
            item_index=item.item_index,
        )
        routed = engine.route_interaction(created)
        if engine.budget is not None:
            scope = budget_scope(record.pipeline_id, routed)
            expires = routed.deadline_epoch_ms + engine.settings.execution.lease_ms
            if not await engine.budget.acquire(
                scope, routed.interaction_id, self.window, now, expires
            ):
                self.budget_full = True
                self.pending.appendleft(item)  # first in line once a slot frees
                return
        index = item.item_index
        joint = await self.writes.dispatch(item, routed)
        if joint is not None:  # the interaction and the item waiting on it, written together
            self.in_flight[index] = joint
            if routed.undispatched:
                engine.interaction_stored(routed)  # published now; the outbox sweep if we die
            engine.recent_interactions.remember(routed)  # its answer's write tries this copy
            return
        stored, _ = await engine.stores.awaits.create_or_get(routed)
        cp.crash_point(cp.ITEM_INTERACTION_WRITE)
        # In flight before the request leaves: an answer quicker than the item's own write
        # below finds its item here (its finish's compare-and-set then meets that write).
        provisional = replace(item, interaction_id=stored.interaction_id)
        self.in_flight[index] = provisional
        if stored.undispatched:
            engine.interaction_stored(stored)  # published now; the outbox sweep if we die first
        awaiting = await self.writes.write(
            item, status=ItemStatus.AWAITING, interaction_id=stored.interaction_id
        )
        if self.in_flight.get(index) is provisional and index not in self.finishing:
            if awaiting is None or awaiting.status is not ItemStatus.AWAITING:
                del self.in_flight[index]  # finished meanwhile by an earlier run
                return
            self.in_flight[index] = awaiting
        if not stored.pending:  # answered already (a re-run after a crash)
            self._answered(stored)

    # ------------------------------------------------------------------ answers

    async def _finish(self, item: StreamItem, interaction: AwaitInteraction) -> None:
        index = item.item_index
        try:
            response = self._response(interaction)
            await self._complete(item, response, interaction)
        except ItemFailed as exc:
            self.error = exc
            if exc.closed:  # its await ended unanswered: a re-drive asks again
                await self.writes.write(item, status=ItemStatus.FAILED, error_message=str(exc))
                self.failed += 1
            # A step that failed after the answer leaves the item AWAITING on its answered
            # interaction: the next run (a retry, a re-drive with fixed code) applies the same
            # answer again instead of asking for a new one.
        except Exception as exc:  # a store failure: the lease runs out and a later run retries
            LOG.exception("item %d of execution %s", index, item.execution_id)
            self.error = ItemFailed(str(exc) or type(exc).__name__, "ITEM_APPLY_FAILED", True)
        finally:
            self.finishing.pop(index, None)
            self.in_flight.pop(index, None)
            self.budget_full = False  # this item's slot is free again
            self.inbox.put_nowait(None)  # wake the run: the window has room again

    def _response(self, interaction: AwaitInteraction) -> Any:
        if interaction.status is InteractionStatus.COMPLETED:
            return interaction.response_payload
        step = self.plan.await_step
        timed_out = interaction.status is InteractionStatus.TIMED_OUT
        if timed_out and step is not None and step.timeout_response is not None:
            return step.timeout_response
        raise ItemFailed(
            f"item {interaction.item_index} await interaction "
            f"{interaction.status.value.lower()}: {interaction.interaction_id}",
            f"AWAIT_{interaction.status.value}",
            closed=True,
        )

    async def _complete(
        self, item: StreamItem, response: Any, interaction: AwaitInteraction | None
    ) -> None:
        """Run the steps after the await on ``response`` and store the item's output."""
        output, branch = await self.steps.finish(item.item_index, response)
        final = {"status": ItemStatus.DONE, "output_payload": output, "branch": branch}
        # Where the store can, the item's output and its interaction's "applied" in one write.
        joint = (
            None if interaction is None else await self.writes.finish(item, interaction, **final)
        )
        done = joint or await self.writes.write(item, **final)
        if done is not None and done.status is ItemStatus.DONE:
            self.done += 1
            if done.branch:
                self.branches[done.branch] += 1
            metrics = self.engine.metrics
            metrics.items_done.inc()
            if interaction is not None and interaction.completed_at_epoch_ms:
                waited = self.engine.clock.now_ms() - interaction.completed_at_epoch_ms
                metrics.item_apply_latency.observe(max(0, waited) / 1000.0)
        if interaction is not None and joint is None:
            await self.writes.release(interaction)

    # ------------------------------------------------------------------ progress

    def _progress(self) -> ItemProgress:
        return ItemProgress(
            total=self.total,
            done=self.done,
            failed=self.failed,
            in_flight=len(self.in_flight),
            branches=dict(self.branches),
        )

    def _publish_progress(self) -> None:
        progress = self._progress()
        metrics = self.engine.metrics
        metrics.items_in_flight.inc(progress.in_flight - self.session.progress.in_flight)
        self.engine.streams.publish(self.session, progress)


def _metadata(input_type: str | None, spec: dict[str, Any] | None) -> dict[str, Any]:
    """What the await lane reads from a new interaction (as the local worker writes it)."""
    metadata: dict[str, Any] = {"inputType": input_type}
    if spec is not None:
        metadata["transport"] = spec
    return metadata

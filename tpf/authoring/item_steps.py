"""Running stream steps: an expansion's generator and an aggregation's ordered inputs.

:func:`run_expansion` drives a ``ONE_TO_MANY`` step and hands its items on in pages of plain
JSON, so the caller can store one page before the next is produced. A sync generator runs in a
worker thread (one page per hop, so blocking code never freezes the loop), an async one on the
loop, and a plain function returning a list is taken as is.

:func:`run_aggregation` gives a ``MANY_TO_ONE`` step its items the way its first parameter asks
(:mod:`tpf.authoring.streams`): a sync iterator (which, in the step's worker thread, fetches
each page from the loop through anyio), an async iterator, or a list. Each item is decoded into
the step's declared item type as it is read.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.to_thread
import msgspec

from tpf.core.errors import ValidationError

if TYPE_CHECKING:
    from tpf.authoring.context import StepContext
    from tpf.authoring.pipeline import Pipeline, StepSpec

Pages = AsyncIterator[list[Any]]
PAGE_SIZE = 500
_DONE = object()


def _bound(spec: StepSpec, context: StepContext | None) -> Callable[..., Any]:
    fn = spec.fn
    if fn is None:
        raise TypeError(f"step {spec.index} {spec.name!r} has no code")
    if spec.context_param is not None:
        if context is None:
            raise TypeError(f"step {spec.index} {spec.name!r} takes a context and got none")
        fn = functools.partial(fn, **{spec.context_param: context})
    return fn


async def run_expansion(
    pipeline: Pipeline,
    index: int,
    value: Any,
    *,
    limiter: anyio.CapacityLimiter | None = None,
    context: StepContext | None = None,
    page_size: int = PAGE_SIZE,
) -> Pages:
    """The items of expansion step ``index`` on ``value`` (already decoded), in pages."""
    spec = pipeline.steps[index]
    fn = _bound(spec, context)
    plain = pipeline.to_plain
    raw = inspect.unwrap(spec.fn) if spec.fn is not None else None
    if inspect.isasyncgenfunction(raw):
        page: list[Any] = []
        async for item in fn(value):
            page.append(plain(item))
            if len(page) >= page_size:
                yield page
                page = []
        if page:
            yield page
        return
    produced = fn(value) if inspect.iscoroutinefunction(raw) else None
    if produced is not None:
        produced = await produced
    else:
        produced = await anyio.to_thread.run_sync(fn, value, limiter=limiter)
    if isinstance(produced, (list, tuple)):
        for start in range(0, len(produced), page_size):
            yield [plain(item) for item in produced[start : start + page_size]]
        return
    iterator: Iterator[Any] = iter(produced or ())

    def next_page() -> list[Any]:
        out: list[Any] = []
        for item in iterator:
            out.append(plain(item))
            if len(out) >= page_size:
                break
        return out

    while True:
        page = await anyio.to_thread.run_sync(next_page, limiter=limiter)
        if not page:
            return
        yield page
        if len(page) < page_size:
            return


def _decoder(pipeline: Pipeline, spec: StepSpec) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        try:
            return msgspec.convert(value, spec.input_type, str_keys=True)
        except msgspec.ValidationError as exc:
            raise ValidationError(
                f"step {spec.index} {spec.name!r}: an item does not match "
                f"{spec.input_type_id}: {exc}"
            ) from exc

    return decode


async def run_aggregation(
    pipeline: Pipeline,
    index: int,
    pages: Pages,
    *,
    limiter: anyio.CapacityLimiter | None = None,
    context: StepContext | None = None,
) -> Any:
    """Run aggregation step ``index`` on the ordered item outputs that ``pages`` yields."""
    spec = pipeline.steps[index]
    fn = _bound(spec, context)
    decode = _decoder(pipeline, spec)
    raw = inspect.unwrap(spec.fn) if spec.fn is not None else None
    is_async = inspect.iscoroutinefunction(raw)

    async def items() -> AsyncIterator[Any]:
        async for page in pages:
            for value in page:
                yield decode(value)

    if spec.item_form == "list":
        values = [item async for item in items()]
        if is_async:
            return await fn(values)
        return await anyio.to_thread.run_sync(fn, values, limiter=limiter)
    if spec.item_form == "async_iterator":  # an async def step (checked when it was declared)
        return await fn(items())
    source = items()

    async def next_item() -> Any:
        return await anext(source)

    def pull() -> Any:
        try:
            return anyio.from_thread.run(next_item)
        except StopAsyncIteration:
            return _DONE

    def blocking_items() -> Iterator[Any]:
        while (item := pull()) is not _DONE:
            yield item

    return await anyio.to_thread.run_sync(lambda: fn(blocking_items()), limiter=limiter)


async def list_pages(values: list[Any], page_size: int = PAGE_SIZE) -> Pages:
    """``values`` as pages (an aggregation's input received whole, from a remote command)."""
    for start in range(0, len(values), page_size):
        yield values[start : start + page_size]

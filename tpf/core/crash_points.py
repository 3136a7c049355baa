"""Named crash points on the coordinator's durable paths: a seam for crash tests.

Every place where a SIGKILL would leave the store in a distinct state (right after a store write,
between a commit and its publish, between a park and its dispatch, between consuming a completion
and applying it, with a transition's result not yet committed, in a lease renewal) calls
:func:`crash_point` with the point's name. Nothing happens unless a hook is installed in the
calling task's context (:func:`install`): then the hook decides (``tpf.testing`` records the
points a run passes and stops the coordinator at an armed one).

The hook lives in a context variable, not a global: a coordinator's tasks inherit the context
they were created in, so with several coordinators in one process (each started under its own
hook) only the armed one's tasks see its hook. The unarmed cost is one ``ContextVar.get``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token

CrashHook = Callable[[str], None]

_HOOK: ContextVar[CrashHook | None] = ContextVar("tpf_crash_hook", default=None)

# The points, as the code names them; ``tpf.testing`` documents what each means.
EXECUTION_CREATE = "after:execution-create"
LEASE_CLAIM = "after:lease-claim"
MID_TRANSITION = "mid-transition"
SUCCESS_COMMIT = "after:success-commit"
FAILURE_COMMIT = "after:failure-commit"
INTERACTION_WRITE = "after:interaction-write"
PARK_COMMIT = "after:park-commit"
RESUME_COMMIT = "after:resume-commit"
AWAIT_FAIL_COMMIT = "after:await-fail-commit"
MARK_APPLIED = "after:mark-applied"
REDRIVE_COMMIT = "after:redrive-commit"
COMPLETION_ACCEPT = "after:completion-accept"
COMPLETION_HOLD = "after:completion-hold"
COMPLETION_CONSUMED = "after:completion-consumed"
TIMEOUT_WRITE = "after:timeout-write"
DLQ_PUBLISH = "after:dlq-publish"
DLQ_CLEAR = "after:dlq-clear"
AWAIT_PUBLISH = "after:await-publish"
AWAIT_MARK_DISPATCHED = "after:await-mark-dispatched"
LEASE_RENEW = "mid-renewal"
ITEMS_WRITE = "after:items-write"
ITEM_INTERACTION_WRITE = "after:item-interaction-write"
ITEM_WRITE = "after:item-write"
ITEM_MARK_APPLIED = "after:item-mark-applied"
PHASE_COMMIT = "after:phase-commit"

ALL = (
    EXECUTION_CREATE,
    LEASE_CLAIM,
    MID_TRANSITION,
    SUCCESS_COMMIT,
    FAILURE_COMMIT,
    INTERACTION_WRITE,
    PARK_COMMIT,
    RESUME_COMMIT,
    AWAIT_FAIL_COMMIT,
    MARK_APPLIED,
    REDRIVE_COMMIT,
    COMPLETION_ACCEPT,
    COMPLETION_HOLD,
    COMPLETION_CONSUMED,
    TIMEOUT_WRITE,
    DLQ_PUBLISH,
    DLQ_CLEAR,
    AWAIT_PUBLISH,
    AWAIT_MARK_DISPATCHED,
    LEASE_RENEW,
    ITEMS_WRITE,
    ITEM_INTERACTION_WRITE,
    ITEM_WRITE,
    ITEM_MARK_APPLIED,
    PHASE_COMMIT,
)


def crash_point(name: str) -> None:
    """Pass the point ``name``: a no-op unless a hook is installed in this context."""
    hook = _HOOK.get()
    if hook is not None:
        hook(name)


def install(hook: CrashHook | None) -> Token[CrashHook | None]:
    """Install ``hook`` in the current context (tasks created from here on inherit it);
    :func:`uninstall` with the returned token restores the previous one."""
    return _HOOK.set(hook)


def uninstall(token: Token[CrashHook | None]) -> None:
    _HOOK.reset(token)


def current() -> CrashHook | None:
    """The hook installed in the current context, if any."""
    return _HOOK.get()

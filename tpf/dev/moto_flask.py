"""Flask's debug-mode request check made cheaper for moto's server, with the same behaviour.

moto's backend apps run with ``debug = True``. In debug mode Flask replaces every form-less
request's ``files`` multidict class with a subclass made for that request (its ``__getitem__``
turns a ``KeyError`` for a name the form has into a ``DebugFilesKeyError``): a new class per
request, ~2% of the moto server's CPU in the csv demo's SQS lane, where no request has a form.
:func:`cheaper_debug_files` makes the subclass once per multidict class and keeps the request on
the multidict instead of in the class's closure: the same lookups, the same errors.
"""

from __future__ import annotations

import threading
from typing import Any

import flask.debughelpers as debughelpers

_ORIGINAL = debughelpers.attach_enctype_error_multidict
_CLASSES: dict[type, type] = {}
_PATCHING = threading.Lock()
_REQUEST = "_tpf_debug_request"


def cheaper_debug_files() -> None:
    """Install the shared subclass (idempotent; Flask imports the helper at each call)."""
    with _PATCHING:
        debughelpers.attach_enctype_error_multidict = _attach


def shipped() -> None:
    """Flask's own helper back (the tests compare the two)."""
    with _PATCHING:
        debughelpers.attach_enctype_error_multidict = _ORIGINAL


def _attach(request: Any) -> None:
    """Flask's ``attach_enctype_error_multidict``: the request's files raise Flask's debug
    error for a name sent as a form field."""
    files = request.files
    oldcls = files.__class__
    newcls = _CLASSES.get(oldcls)
    if newcls is None:
        newcls = _CLASSES.setdefault(oldcls, _debug_class(oldcls))
    vars(files)[_REQUEST] = request
    files.__class__ = newcls


def _debug_class(oldcls: type) -> type:
    class newcls(oldcls):  # type: ignore[misc]
        def __getitem__(self, key: str) -> Any:
            try:
                return super().__getitem__(key)
            except KeyError as e:
                request = vars(self)[_REQUEST]
                if key not in request.form:
                    raise
                raise debughelpers.DebugFilesKeyError(request, key).with_traceback(
                    e.__traceback__
                ) from None

    newcls.__name__ = oldcls.__name__
    newcls.__module__ = oldcls.__module__
    return newcls

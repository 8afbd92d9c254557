"""Record a failure on the row of the work that failed, then let the exception go on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def failure_message(exc: BaseException) -> str:
    """``"ValueError: no training offers"``: what a failed row stores in its ``error``."""
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def marks_failed(obj: Any, *, status: str | None = None) -> Iterator[Any]:
    """Run the body; if it raises, set ``obj.status`` (default ``type(obj).Status.FAILED``) and
    ``obj.error``, save those two fields, and re-raise.

    Put database writes that must not half-happen in a ``transaction.atomic()`` INSIDE the body:
    they are rolled back before the failure is saved.
    """
    try:
        yield obj
    except Exception as exc:
        obj.status = status if status is not None else type(obj).Status.FAILED
        obj.error = failure_message(exc)
        obj.save(update_fields=["status", "error"])
        raise

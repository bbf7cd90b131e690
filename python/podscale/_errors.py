"""Exceptions raised by podscale (imported by the compiled module to build them)."""

from __future__ import annotations


class PodscaleError(RuntimeError):
    """A run or sweep failed for a reason other than an invalid scenario (I/O, a failed simulation)."""


class ScenarioError(PodscaleError, ValueError):
    """The scenario (or sweep) is invalid.

    ``str(e)`` is the same text the CLI prints, one located message per line
    (``file:line: key: message ... allowed: ...``); ``e.errors`` lists them as dicts with ``file``, ``line``
    (``None`` when unknown), ``key`` and ``message``. A scenario given as text or a dict is named
    ``<string>``.
    """

    def __init__(self, message: str, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.errors: list[dict] = list(errors or [])


class PolicyError(PodscaleError):
    """A custom policy failed during a run: it raised, or returned something that is not a replica count.

    ``str(e)`` names the policy's method and the simulated time; ``e.now`` is that time in seconds; the
    original exception is ``e.__cause__``. The run stops at that second.
    """

    def __init__(self, message: str, now: float | None = None) -> None:
        super().__init__(message)
        self.now = now

"""Type hints of the compiled module (text in, JSON and CSV bytes out; see podscale/__init__.py)."""

import os
from typing import Callable

RunTuple = tuple[str, bytes, bytes | None]

def run(
    *,
    path: str | os.PathLike | None = None,
    text: str | None = None,
    overrides: list[str] = ...,
    seed: int | None = None,
    per_request: bool = False,
    base_dir: str | os.PathLike | None = None,
) -> RunTuple: ...
def run_policy(
    step: Callable[[float, dict, bool], int | None],
    *,
    period_s: int,
    initial_replicas: int,
    path: str | os.PathLike | None = None,
    text: str | None = None,
    overrides: list[str] = ...,
    seed: int | None = None,
    per_request: bool = False,
    base_dir: str | os.PathLike | None = None,
) -> RunTuple: ...
def sweep(
    *,
    path: str | os.PathLike | None = None,
    text: str | None = None,
    threads: int = 0,
    base_dir: str | os.PathLike | None = None,
) -> tuple[bytes, bytes]: ...
def yaml_from_json(json: str) -> str: ...
def apply_overrides(text: str, overrides: list[str]) -> str: ...

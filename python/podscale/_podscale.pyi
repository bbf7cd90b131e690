"""Type hints of the compiled module (text in, JSON and CSV bytes out; see podscale/__init__.py)."""

import os
from typing import Callable

# (summary_json, timeseries_csv, requests_csv, services_csv, cluster_csv): requests only with
# per_request=True; services.csv and cluster.csv only for a scenario of several services.
RunTuple = tuple[str, bytes, bytes | None, bytes | None, bytes | None]

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
    policy_service: str | None = None,
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

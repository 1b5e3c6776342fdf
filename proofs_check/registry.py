"""The registry of claims: each theorem, proposition or construction of the DeltaProduct and "negative
eigenvalues" papers that the toolkit checks, with its source and a check that returns evidence.

A check is a function of no arguments returning :class:`Evidence` — whether the claim held, a short
human-readable account (the identity proved, the worst error over how many samples, the counterexample
found) and optional data. A check may raise :class:`Skip` when it cannot run here (e.g. no CUDA GPU).
"""

from __future__ import annotations

import fnmatch
import multiprocessing
import signal
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Evidence", "Skip", "Claim", "Result", "claim", "claims", "select", "run_claim", "run_claims"]

Method = Literal["symbolic", "exhaustive", "numeric", "kernel", "trained", "cited"]
Tier = Literal["fast", "full"]
Status = Literal["passed", "failed", "error", "skipped"]
METHODS = ("symbolic", "exhaustive", "numeric", "kernel", "trained", "cited")
TIERS = ("fast", "full")


@dataclass(frozen=True)
class Evidence:
    """What a check found: ``holds`` decides the status, ``summary`` says why, ``data`` carries numbers."""

    holds: bool
    summary: str
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_checks(cls, checks: dict[str, bool], summary: str, data: dict[str, Any] | None = None) -> Evidence:
        """Evidence that holds when every named sub-check does; a failing run's summary begins with
        ``FAILED:`` and the names of the sub-checks that failed, so it never reads like the passing text."""
        failed = [name for name, ok in checks.items() if not ok]
        prefix = "FAILED: " + "; ".join(failed) + ". " if failed else ""
        return cls(not failed, prefix + summary, {**(data or {}), "checks": {k: bool(v) for k, v in checks.items()}})


class Skip(Exception):
    """Raised by a check that cannot run in this environment; the message is the reason."""


@dataclass(frozen=True)
class Claim:
    """A registered claim: a stable ``id`` (``paper.item``), the statement, its ``source`` (paper, numbered
    result, provenance tag: [U] the full text of Grazzi et al. 2025; [DP-sec], [DP-quote] summaries and
    quoted sentences of the DeltaProduct paper; [DP-code] its code; [RECON] a construction we rebuilt to meet
    a theorem's hypotheses and conclusion, which may differ from the paper's proof; [✔] our own check),
    the ``method`` and ``tier`` of its check."""

    id: str
    statement: str
    source: str
    method: Method
    tier: Tier
    check: Callable[[], Evidence]


@dataclass(frozen=True)
class Result:
    claim: Claim
    status: Status
    evidence: str
    data: dict[str, Any]
    seconds: float
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        out = {
            "id": self.claim.id,
            "statement": self.claim.statement,
            "source": self.claim.source,
            "method": self.claim.method,
            "tier": self.claim.tier,
            "status": self.status,
            "evidence": self.evidence,
            "data": _plain(self.data),
            "seconds": round(self.seconds, 3),
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def _plain(x: Any) -> Any:
    """Evidence data as JSON-ready values: string keys, lists for tuples (other values stringify later)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


_REGISTRY: dict[str, Claim] = {}


def claim(*, id: str, statement: str, source: str, method: Method, tier: Tier = "fast"):
    """Register the decorated function as the check of a claim."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if tier not in TIERS:
        raise ValueError(f"tier: expected one of {TIERS}, got {tier!r}")

    def register(check: Callable[[], Evidence]) -> Callable[[], Evidence]:
        if id in _REGISTRY:
            raise ValueError(f"id: claim {id!r} is registered twice")
        _REGISTRY[id] = Claim(id, statement, source, method, tier, check)
        return check

    return register


def claims() -> list[Claim]:
    """Every registered claim, in registration order (importing :mod:`proofs_check.claims` registers them)."""
    import proofs_check.claims  # noqa: F401  (registers on import)

    return list(_REGISTRY.values())


def select(*, full: bool = False, only: str | None = None) -> list[Claim]:
    """The claims to run: the fast tier (plus the full tier with ``full``), filtered by the glob ``only``."""
    chosen = [c for c in claims() if full or c.tier == "fast"]
    if only is not None:
        chosen = [c for c in chosen if fnmatch.fnmatchcase(c.id, only)]
    return chosen


def run_claim(c: Claim) -> Result:
    """Run one check; a check that raises is an ``error``, one that returns no Evidence too."""
    start = time.perf_counter()
    try:
        evidence = c.check()
    except Skip as skip:
        return Result(c, "skipped", "", {}, time.perf_counter() - start, reason=str(skip))
    except Exception as err:  # a check's crash is reported, not propagated: the run goes on
        return Result(c, "error", f"{type(err).__name__}: {err}", {}, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if not isinstance(evidence, Evidence):
        return Result(c, "error", f"check returned {type(evidence).__name__}, not Evidence", {}, seconds)
    status: Status = "passed" if evidence.holds else "failed"
    return Result(c, status, evidence.summary, evidence.data, seconds)


def run_claims(
    chosen: list[Claim], *, jobs: int = 1, on_result: Callable[[Result], None] | None = None
) -> list[Result]:
    """Run the checks of ``chosen`` and return their results in its order, calling ``on_result`` as each one
    finishes. ``jobs`` = 1 runs them here one after the other; more runs them in that many worker processes:
    the checks share no state (each seeds its own randomness), so the results are the same. Workers are fresh
    interpreters (``spawn``: nothing inherited, safe with torch's threads) with one torch thread each, and find
    each claim by its id, so only registered claims can go to them; a worker that dies makes its claim an
    ``error`` that says so."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs: expected a positive integer, got {jobs!r}")
    if jobs == 1 or len(chosen) < 2:
        results = []
        for c in chosen:
            results.append(run_claim(c))
            if on_result is not None:
                on_result(results[-1])
        return results
    unknown = [c.id for c in chosen if _REGISTRY.get(c.id) is not c]
    if unknown:
        raise ValueError(f"chosen: worker processes run registered claims only, got {unknown}")
    found: dict[str, Result] = {}
    others = set(multiprocessing.active_children())
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(min(jobs, len(chosen)), mp_context=context, initializer=_start_worker)
    try:
        running = {pool.submit(_run_registered, c.id): c for c in chosen}
        for future in as_completed(running):
            c = running[future]
            try:
                status, evidence, data, seconds, reason = future.result()
                found[c.id] = Result(c, status, evidence, data, seconds, reason)
            except Exception as err:  # the worker died (BrokenProcessPool) or its result did not come back
                found[c.id] = Result(c, "error", f"the worker process running it failed: {type(err).__name__}: "
                                     f"{err}", {}, 0.0)  # fmt: skip
            if on_result is not None:
                on_result(found[c.id])
    except BaseException:  # an interrupt: the workers stop now, not after the claims they are running
        for child in set(multiprocessing.active_children()) - others:
            child.terminate()
        raise
    finally:
        pool.shutdown(cancel_futures=True)
    return [found[c.id] for c in chosen]


def _start_worker() -> None:
    """A worker's start: Ctrl-C left to the parent (which stops the workers), one torch thread (the workers
    share the cores), every claim registered."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    claims()


def _run_registered(claim_id: str) -> tuple:
    """In a worker: the claim's result as plain fields (the Claim, whose check is a function, stays home)."""
    r = run_claim(_REGISTRY[claim_id])
    return r.status, r.evidence, r.data, r.seconds, r.reason

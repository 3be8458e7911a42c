"""Walk-forward optimization: re-optimize on each fold's IS window with optuna, judge on its OOS window.

`run_study(spec_or_path, ...)` is the entry point (the CLI and `make optimize` call it):

1. `prepare` loads the candles, builds the folds, the search space and the evaluator.
2. `run_worker` runs trials: fold k is the optuna study `<name>.fold<k>` (seeded TPE, multivariate); a
   trial suggests values, builds the params model (a combination the model rejects is pruned), runs the
   fast path on the IS window and returns the objective (`objective.score`). With `workers > 1` the
   other workers are subprocesses (`traderagent optimize STUDY --worker`) sharing the storage.
3. `analysis.analyze` selects each fold's best valid trial, runs it OOS through the full engine
   (vectorbt booking and integrity gates), stitches the OOS windows into one run and measures
   walk-forward efficiency, parameter stability, Monte Carlo bands, sensitivity, DSR and PBO.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from traderagent.data import timeframes
from traderagent.errors import UserError
from traderagent.optimize.fold_store import discard_trials, fold_study, params_key
from traderagent.optimize.folds import Fold, make_folds
from traderagent.optimize.objective import Evaluator, score
from traderagent.optimize.study import (
    StudySpec,
    build_space,
    close_storage,
    default_storage,
    load_study,
    open_storage,
    purge_bars,
    redact,
    study_fingerprint,
    suggest,
)


@dataclass
class Context:
    """Everything a worker or the analysis needs, built once per process by `prepare`."""

    spec: StudySpec
    source: str
    strategy: Any  # StrategySpec
    evaluator: Evaluator
    folds: list[Fold]
    space: dict[str, dict]
    hash: str
    storage_url: str
    data_path: Path
    data_sha256: str
    timeframe: str
    first: int
    config: Any  # AppConfig
    study_path: Path | None = None
    fingerprint: dict = field(default_factory=dict)  # part -> hash (study_fingerprint)
    overrides: dict = field(default_factory=dict)  # study keys set on the command line (fees, slippage)
    cache: dict = field(default_factory=dict)  # (fold, params key) -> daily returns of IS evaluations
    outbox: Any = None  # a forked SQLite worker's pipe to the parent, which writes its trials
    relay: Any = None  # the parent's Relay of its forked SQLite workers' trials
    _storage: Any = None

    @property
    def storage(self):
        if self._storage is None:
            self._storage = open_storage(self.storage_url)
        return self._storage

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.evaluator.bars.index

    def close(self) -> None:
        """Release the storage's database connections."""
        if self._storage is not None:
            close_storage(self._storage)
            self._storage = None


def _slice_end(bars: pd.DataFrame, end) -> pd.DataFrame:
    if end is None:
        return bars
    return bars[bars.index < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)]


def prepare(spec: StudySpec | str | Path, storage: str | None = None, overrides: dict | None = None) -> Context:
    """Load data and build folds, search space and evaluator for a study (a spec or a study file);
    `overrides` replace keys of the study file (the CLI's --fees/--slippage), validated like the file."""
    from traderagent.backtest.runner import file_sha256, params_for, read_base, to_timeframe
    from traderagent.core.costs import Costs
    from traderagent.strategies import registry

    study_path = None
    if not isinstance(spec, StudySpec):
        study_path = Path(spec)
        spec = load_study(study_path)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if overrides:
        from traderagent.config import validate

        spec = validate(StudySpec, {**spec.model_dump(exclude_unset=True), **overrides}, "command line")
    source = str(study_path) if study_path else f"study {spec.name}"
    strategy = registry.get(spec.strategy)
    cfg, base = params_for(strategy, spec.config, spec.timeframe)
    if spec.params:
        from traderagent.config import replace

        base = replace(base, source=source, prefix=("params",), **spec.params)  # one-line messages
    tf = strategy.base_timeframe(base)
    if spec.timeframe and timeframes.normalize(spec.timeframe) != tf:
        raise UserError(f"{source}: timeframe: {spec.timeframe!r} does not set {spec.strategy}'s timeframe (it runs "
                        f"on {tf} from its params); remove the key or change the strategy's params")
    space = build_space(strategy.params_model, spec.params, spec.search, source)
    raw, base_tf, path = read_base(spec.data, spec.symbol)
    bars = _slice_end(to_timeframe(raw, base_tf, tf), spec.end)
    first = int(bars.index.searchsorted(pd.Timestamp(spec.start, tz="UTC"))) if spec.start else 0
    bt = cfg.backtest
    costs = Costs(fees=bt.fees if spec.fees is None else spec.fees,
                  slippage=bt.slippage if spec.slippage is None else spec.slippage)
    engine = {"initial_equity": bt.initial_equity, "risk": cfg.risk, "leverage": bt.leverage,
              "allow_short": bt.allow_short}
    evaluator = Evaluator(strategy, base, bars, tf, costs, engine, fixed={}, source=source)
    folds = make_folds(len(bars), spec.folds.n, spec.folds.scheme, spec.folds.in_sample_ratio,
                       purge_bars(spec, tf), first)
    sha = file_sha256(path)
    url = storage or spec.storage or default_storage(spec.name)
    digest, parts = study_fingerprint(spec, space, tf, {"fees": costs.fees, "slippage": costs.slippage},
                                      {"backtest": {**engine, "risk": cfg.risk.model_dump(mode="json")},
                                       "params": base.model_dump(mode="json")}, sha)
    return Context(spec=spec, source=source, strategy=strategy, evaluator=evaluator, folds=folds, space=space,
                   hash=digest, storage_url=url, data_path=path, data_sha256=sha, timeframe=tf, first=first,
                   config=cfg, study_path=study_path, fingerprint=parts, overrides=overrides)


# ----------------------------------------------------------------------------------------------- studies
def _finished(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


_TIMED_SAMPLER: list = []


def timed_tpe(**kwargs):
    """A TPESampler whose class adds up the seconds spent choosing parameters (`.seconds`)."""
    if not _TIMED_SAMPLER:
        import optuna

        class TimedTPESampler(optuna.samplers.TPESampler):
            seconds = 0.0

            def sample_relative(self, study, trial, search_space):
                t = time.perf_counter()
                try:
                    return super().sample_relative(study, trial, search_space)
                finally:
                    TimedTPESampler.seconds += time.perf_counter() - t

            def sample_independent(self, study, trial, param_name, param_distribution):
                t = time.perf_counter()
                try:
                    return super().sample_independent(study, trial, param_name, param_distribution)
                finally:
                    TimedTPESampler.seconds += time.perf_counter() - t

        _TIMED_SAMPLER.append(TimedTPESampler)
    return _TIMED_SAMPLER[0](**kwargs)


def make_objective(ctx: Context, k: int, timing: dict):
    """The optuna objective of fold k: suggest, validate, run the IS window, score."""
    import optuna

    from traderagent.config import ConfigValidationError

    fold = ctx.folds[k]
    spec = ctx.spec

    def objective(trial) -> float:
        values = suggest(trial, ctx.space)
        t0 = time.perf_counter()
        try:
            params = ctx.evaluator.make_params(values)
        except ConfigValidationError as exc:
            trial.set_user_attr("invalid", str(exc).splitlines()[-1])
            raise optuna.TrialPruned("params rejected by the params model") from None
        ev = ctx.evaluator.evaluate(params, fold.is_start, fold.is_end)
        value, valid = score(ev.stats, spec.objective, spec.min_trades)
        ctx.cache[(k, params_key(values))] = ev.daily
        timing["eval"] += time.perf_counter() - t0
        s = ev.stats
        trial.set_user_attr("m", {"valid": valid, "trades": int(s["trades"]), "sharpe": _num(s["sharpe"]),
                                  "total_return": _num(s["total_return"]), "max_drawdown": _num(s["max_drawdown"])})
        return value

    return objective


def _num(x) -> float | None:
    x = float(x)
    return x if x == x and abs(x) != float("inf") else None


#: Seconds between pulls of other workers' trials, and the remaining count below which every trial pulls.
SYNC_SECONDS = 2.0
SYNC_TAIL = 10


class FoldMirror:
    """An in-memory copy of one fold study for the sampler to read, written through to the shared storage.

    optuna's own loop writes ~15 rows in as many transactions per trial, which costs more than a
    Trend-Follower backtest. Here the sampler (seeded TPE) works on an in-memory study; each finished
    trial is written to the shared study in ONE transaction (`Study.add_trial`), and, when other workers
    may be writing (`sync`), their finished trials are pulled in before every trial. The shared study
    stays the single source of truth: resuming, adding workers and the analysis all read it.
    """

    def __init__(self, shared, sampler, uid: str, sync: bool, target: int, write=None):
        import optuna

        self.shared = shared
        self.write = write or shared.add_trial
        self.target = target
        self._last_pull = 0.0
        self.mem = optuna.create_study(direction="maximize", sampler=sampler)
        self.uid = uid
        self.sync = sync
        self.seen: set[int] = set()
        self.storage_seconds = 0.0
        self.finished = 0  # finished trials known here: the shared ones pulled in plus this worker's own
        self.pull(force=True)

    def pull(self, force: bool = False) -> None:
        """Copy other workers' new finished trials in. Pulls every `SYNC_SECONDS`, and before every trial
        once fewer than `SYNC_TAIL` remain, so workers sharing a fold overshoot `trials` by little."""
        from optuna.trial import TrialState

        now = time.perf_counter()
        due = force or (self.sync and (now - self._last_pull >= SYNC_SECONDS
                                       or self.target - self.finished <= SYNC_TAIL))
        if not due:
            return
        done = self.shared.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        for tr in done:
            if tr._trial_id not in self.seen:
                self.seen.add(tr._trial_id)
                if tr.user_attrs.get("worker") != self.uid:
                    self.mem.add_trial(tr)
                    self.finished += 1
        self._last_pull = time.perf_counter()
        self.storage_seconds += self._last_pull - now

    def run_one(self, objective) -> None:
        import optuna
        from optuna.trial import TrialState

        trial = self.mem.ask()
        trial.set_user_attr("worker", self.uid)
        try:
            frozen = self.mem.tell(trial, objective(trial))
        except optuna.TrialPruned:
            frozen = self.mem.tell(trial, state=TrialState.PRUNED)
        except BaseException:
            self.mem.tell(trial, state=TrialState.FAIL)
            raise
        t = time.perf_counter()
        self.write(frozen)
        self.storage_seconds += time.perf_counter() - t
        self.finished += 1
        self.pull()


def run_worker(ctx: Context, worker_id: int | None = 0, n_workers: int = 1, trials: int | None = None,
               progress: StudyProgress | None = None) -> dict:
    """Run trials until every fold study has `trials` finished trials; returns this worker's timing.

    Which folds: `fold_order`. Workers meeting on one fold (extra local workers, or workers started on other
    machines) share it: each pulls the others' finished trials in (see `FoldMirror`). `worker_id=None` is a
    worker joining from elsewhere: it helps with every unfinished fold, with its own random seed.
    """
    import uuid

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = trials or ctx.spec.trials
    n_folds = len(ctx.folds)
    sync = n_workers > 1 or worker_id is None or not _local_storage(ctx.storage_url)  # others may write too
    token = uuid.uuid4()
    uid = f"{'x' if worker_id is None else worker_id}-{token.hex[:8]}"
    if worker_id is None:
        first = token.int % n_folds
        order = [(first + j) % n_folds for j in range(n_folds)]
    else:
        order = fold_order(worker_id, max(n_workers, 1), n_folds)
    timing = {"worker": uid if worker_id is None else worker_id, "trials": 0, "wall": 0.0, "eval": 0.0,
              "sampler": 0.0, "storage": 0.0}
    t_start = time.perf_counter()
    for k in order:
        study = fold_study(ctx, k)
        # a fold's owner samples with the fold's seed; a worker sharing it samples differently
        own = worker_id is not None and worker_id < n_folds
        sampler = timed_tpe(seed=_seed(ctx.spec.seed, k, 0 if own else 1 + token.int % 1_000_003), multivariate=True,
                            n_startup_trials=min(ctx.spec.startup_trials, trials))
        before = type(sampler).seconds
        write = None
        if ctx.outbox is not None:  # a forked worker on SQLite: the parent writes (one writer, no lock waits)
            write = functools.partial(_send_trial, ctx.outbox, k)
        mirror = FoldMirror(study, sampler, uid, sync, trials, write)
        if mirror.finished >= trials:
            continue
        objective = make_objective(ctx, k, timing)
        while mirror.finished < trials:
            mirror.run_one(objective)
            timing["trials"] += 1
            if ctx.relay is not None:
                t_relay = time.perf_counter()
                ctx.relay.drain(ctx)
                timing["storage"] += time.perf_counter() - t_relay
            if progress is not None:
                progress.tick(k, mirror.finished)
                if ctx.relay is None and n_workers > 1:
                    progress.recount()
        timing["sampler"] += type(sampler).seconds - before
        timing["storage"] += mirror.storage_seconds
    timing["wall"] = time.perf_counter() - t_start
    return timing


def fold_order(worker_id: int, n_workers: int, n_folds: int) -> list[int]:
    """The folds worker `worker_id` of `n_workers` runs, in order.

    With no more workers than folds, each worker runs only its own folds (i, i + N, ...), alone: every fold
    study is then made by one sampler seeded by the fold, so the trials do not depend on the number of
    workers. Extra workers (N > folds) join fold i % folds and share it.
    """
    if n_workers <= n_folds:
        return list(range(worker_id % n_workers, n_folds, n_workers))
    return [worker_id % n_folds]


def _seed(seed: int, k: int, worker: int) -> int:
    return (seed * 1_000_003 + k * 1_009 + worker * 7_919) % (2**32)


class StudyProgress:
    """One tqdm bar (stderr) over every fold's trials, whichever worker runs them: the parent counts its own
    trials, the trials its forked SQLite workers relay, and (other storages) re-counts the storage at most
    every SYNC_SECONDS. The caller creates it only for a person at a terminal."""

    def __init__(self, ctx: Context, trials: int):
        from tqdm import tqdm

        self.ctx, self.trials = ctx, trials
        self.done = [min(_finished(fold_study(ctx, k)), trials) for k in range(len(ctx.folds))]
        self._last = time.perf_counter()
        self.bar = tqdm(total=trials * len(self.done), initial=sum(self.done), desc=f"study {ctx.spec.name}",
                        unit="trial", dynamic_ncols=True, file=sys.stderr, leave=False)
        self._show()

    def _show(self) -> None:
        self.bar.n = sum(self.done)
        self.bar.set_postfix_str(" ".join(f"f{k + 1} {d}/{self.trials}" for k, d in enumerate(self.done)),
                                 refresh=False)
        self.bar.refresh()

    def tick(self, k: int, finished: int | None = None) -> None:
        """Fold k has one more finished trial (or `finished` in all)."""
        self.done[k] = min(self.trials, self.done[k] + 1 if finished is None else finished)
        self._show()

    def recount(self, force: bool = False) -> None:
        """Re-read every fold's count from the storage (workers that write it directly)."""
        if force or time.perf_counter() - self._last >= SYNC_SECONDS:
            self._last = time.perf_counter()
            self.done = [max(d, min(_finished(fold_study(self.ctx, k)), self.trials))
                         for k, d in enumerate(self.done)]
            self._show()

    def close(self) -> None:
        self.bar.close()


# ------------------------------------------------------------------------------------------------ workers
def _local_storage(url: str) -> bool:
    return url in ("memory", ":memory:") or url.startswith("sqlite")


def _send_trial(conn, k: int, frozen) -> None:
    conn.send(("trial", k, frozen))


def _forked_worker(ctx: Context, worker_id: int, n_workers: int, trials: int, conn, relay: bool) -> None:
    """Body of a forked worker: run trials, send back (timing, IS cache) or the error line. With `relay`
    (SQLite) its trials go to the parent through `conn` instead of being written here."""
    try:
        ctx._storage = None  # never share a parent's connection pool across fork
        ctx.cache = {}
        ctx.outbox = conn if relay else None
        timing = run_worker(ctx, worker_id, n_workers, trials)
        conn.send(("ok", timing, ctx.cache))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}".splitlines()[0], None))
    finally:
        conn.close()


class Relay:
    """The parent's side of forked SQLite workers: it writes their trials, so SQLite has one writer.

    SQLite serializes writers and a waiting writer sleeps in growing steps, which made two writing
    workers slower than one; here the parent drains the pipes between its own trials and at the end.
    """

    def __init__(self, procs: list):
        self.procs = procs  # [(process, conn)]
        self.results: dict[int, tuple] = {}
        self._studies: dict[int, Any] = {}
        self.progress: StudyProgress | None = None

    def _handle(self, ctx: Context, i: int, msg: tuple) -> None:
        kind, a, b = msg
        if kind == "trial":
            study = self._studies.get(a)
            if study is None:
                study = self._studies[a] = fold_study(ctx, a)
            study.add_trial(b)
            if self.progress is not None:
                self.progress.tick(a)
        else:
            self.results[i] = msg

    def drain(self, ctx: Context, block: bool = False) -> None:
        """Write every trial waiting in the pipes; with `block`, until every worker has reported."""
        from multiprocessing.connection import wait

        while True:
            live = {conn: i for i, (_, conn) in enumerate(self.procs, start=1) if i not in self.results}
            if not live:
                return
            ready = wait(list(live), timeout=None if block else 0)
            if not ready and not block:
                return
            for conn in ready:
                try:
                    self._handle(ctx, live[conn], conn.recv())
                except EOFError:
                    self.results[live[conn]] = ("error", "the worker process died", None)


def spawn_workers(ctx: Context, n_workers: int, trials: int) -> list:
    """Start workers 1..n-1 as processes on the same storage: forked (they inherit the loaded data and the
    compiled kernels) where the OS can fork, else subprocesses of the CLI on the study file."""
    import multiprocessing as mp

    if n_workers <= 1:
        return []
    if ctx.storage_url in ("memory", ":memory:"):
        raise UserError("--workers > 1 needs a shared storage (a SQLite file or a PostgreSQL URL), not memory")
    procs = []
    if "fork" in mp.get_all_start_methods():
        fork = mp.get_context("fork")
        relay = ctx.storage_url.startswith("sqlite")
        for i in range(1, n_workers):
            parent, child = fork.Pipe(duplex=False)
            p = fork.Process(target=_forked_worker, args=(ctx, i, n_workers, trials, child, relay), daemon=True)
            p.start()
            child.close()
            procs.append((p, parent))
        if relay:
            ctx.relay = Relay(procs)
        return procs
    path = ctx.study_path
    if path is None:
        import yaml

        fd, tmp = tempfile.mkstemp(prefix=f"{ctx.spec.name}-", suffix=".yaml")
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(ctx.spec.model_dump(mode="json"), fh)
        path = Path(tmp)
    for i in range(1, n_workers):
        cmd = [sys.executable, "-m", "traderagent", "optimize", str(path), "--worker", "--worker-id", str(i),
               "--workers", str(n_workers), "--storage", ctx.storage_url, "--trials", str(trials), "--quiet",
               "--json", *(a for k, v in ctx.overrides.items() for a in (f"--{k}", repr(v)))]
        procs.append((subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), None))
    return procs


def stop_workers(procs: list) -> None:
    for p, _ in procs:
        p.kill()


def wait_workers(ctx: Context, procs: list, progress: StudyProgress | None = None) -> list[dict]:
    """Wait for the workers; a failed worker is an error carrying its last line. Forked workers' IS
    evaluations are merged into `ctx.cache`."""
    from multiprocessing.connection import wait

    out = []
    relay, ctx.relay = ctx.relay, None
    if relay is not None:
        relay.drain(ctx, block=True)
    for i, (p, conn) in enumerate(procs, start=1):
        if conn is not None:
            if relay is not None:
                status, payload, cache = relay.results[i]
            else:
                while progress is not None and not wait([conn], timeout=SYNC_SECONDS):
                    progress.recount(force=True)  # workers writing the storage themselves: count from there
                try:
                    status, payload, cache = conn.recv()
                except EOFError:
                    status, payload, cache = "error", "the worker process died", None
            p.join()
            if status != "ok":
                raise UserError(f"optimize worker {i} failed: {payload}")
            ctx.cache.update(cache)
            out.append(payload)
            continue
        stdout, stderr = p.communicate()
        if p.returncode != 0:
            last = (stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"optimize worker {i} failed (exit {p.returncode}): {last}")
        try:
            out.append(json.loads(stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            out.append({"worker": i})
    return out


def run_study(spec: StudySpec | str | Path, storage: str | None = None, workers: int = 1, trials: int | None = None,
              progress: bool = False, analyze: bool = True, overrides: dict | None = None, fresh: bool = False,
              log=None):
    """Optimize every fold (resuming what the storage holds), then analyze: a `StudyResult` (or the
    worker timings when `analyze` is False). `fresh` first discards the study's trials (said via `log`)."""
    t0 = time.perf_counter()
    ctx = prepare(spec, storage, overrides)
    try:
        if fresh:
            dropped = discard_trials(ctx)
            if log is not None:
                log(f"starting study {ctx.spec.name!r} afresh in {redact(ctx.storage_url)}: discarded {dropped} "
                    f"earlier trial{'s' if dropped != 1 else ''}")
        return _run(ctx, t0, workers, trials, progress, analyze)
    finally:
        ctx.close()


def _run(ctx: Context, t0: float, workers: int, trials: int | None, progress: bool, analyze: bool):
    t_prep = time.perf_counter() - t0
    trials = trials or ctx.spec.trials
    if workers > 1:  # create the storage tables and every fold study once, before workers race to do it
        for k in range(len(ctx.folds)):
            fold_study(ctx, k)
        ctx.close()
    procs = spawn_workers(ctx, workers, trials)
    bar = None
    try:
        if progress:
            bar = StudyProgress(ctx, trials)
            if ctx.relay is not None:
                ctx.relay.progress = bar
        own = run_worker(ctx, 0, max(workers, 1), trials, bar)
        timings = [own, *wait_workers(ctx, procs, bar)]
    except BaseException:
        stop_workers(procs)
        raise
    finally:
        if bar is not None:
            bar.close()
    t_opt = time.perf_counter() - t0 - t_prep
    if not analyze:
        return timings
    from traderagent.optimize.analysis import analyze as run_analysis

    result = run_analysis(ctx, trials, progress=progress)
    result.timings.update(prepare=t_prep, optimize=t_opt, workers=timings, total=time.perf_counter() - t0)
    return result

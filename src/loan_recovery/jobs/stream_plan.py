"""A streamed plan: a book too large for memory, planned batch by batch, written in order.

Each batch is validated, valued and planned by the in-memory functions
(:func:`action_values`, :func:`plan_loans`) and appended to temporary Parquet parts. What
couples the book's loans is settled after the last batch, on compact tables:

* **Capacity and a budget** (learned policy): the batch keeps a few numbers per worked
  loan (:class:`BookChoices`); the book's assignment is solved on them and each part is
  rewritten with its loans' final arms by :func:`chosen_arm_columns`, the function the
  in-memory plan fills those columns with.
* **Order and reasons.** Every worked loan gets its :data:`schema.WORKLIST_RANK` in the
  whole book's worklist (the in-memory sort: priority, then Loan_ID). The first
  ``explain.worked_loans`` of them (every loan of a book of at most
  ``explain.all_below``) get reasons: their rows are read again (:func:`rows_for`) and
  explained together.

The plan is then written batch by batch in input order. A book planned this way gets,
loan by loan, the in-memory plan's numbers; with capacity, the same assignment and
objective, with prices taken at the last loan left out (any price between the last loan
in and the first left out is a valid dual; the in-memory LP reports one of them).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.sinks import TableSink, write_part
from loan_recovery.exceptions import ConfigError
from loan_recovery.jobs.batch_task import BatchInput, bundle_source, parts_folder
from loan_recovery.jobs.progress import ProgressReporter
from loan_recovery.jobs.stream import (
    BatchCheck,
    StreamRun,
    checked_rows,
    rows_for,
    start_stream,
)
from loan_recovery.jobs.validate import require_accepted
from loan_recovery.models.bundle import BundleSource, ModelBundle, resolve_bundle
from loan_recovery.models.design import risk_design_matrix
from loan_recovery.models.scoring import loan_reasons
from loan_recovery.strategy.actions import HOLD
from loan_recovery.strategy.book_capacity import (
    HOLD_CODE,
    BookAssignment,
    BookChoices,
    arm_positions,
)
from loan_recovery.strategy.plan import (
    ActionValues,
    PlanResult,
    action_values,
    chosen_arm_columns,
    pick_arm,
    plan_loans,
    priced_capacity,
    worklist_order,
)
from loan_recovery.strategy.policy import LEARNED, RANDOM, CapacityPlan

if TYPE_CHECKING:
    from loan_recovery.jobs.dask_batches import DaskBatches

#: Columns a part carries only until the book's assignment is known (then dropped).
_RECOVERED = "__recovered_{}"
_COST = "__cost_{}"
_HOLD_RECOVERED = "__recovered_hold"


@dataclass(frozen=True)
class StreamPlanRun:
    """A streamed ``plan``: its totals, action mix and files."""

    run: StreamRun
    out_path: Path
    policy: str
    baseline_policy: str
    loans: int
    action_totals: pd.DataFrame
    value_totals: dict[str, float]
    capacity_plan: CapacityPlan | None = None
    #: Shadow prices of the book's limits (empty without capacity or budget).
    prices: dict[str, float] = field(default_factory=dict)
    objective: float | None = None

    def summary(self) -> pd.DataFrame:
        """Loans, recovered, cost, net and uplift per recommended action, plus a total."""
        table = self.action_totals.copy()
        table.loc["total"] = table.sum()
        return table

    def totals(self) -> dict[str, float]:
        """The plan's value three ways, as :meth:`PlanResult.totals`."""
        return dict(self.value_totals)


@dataclass
class _Totals:
    """Action mix and value of every final part, added up."""

    actions: list[pd.DataFrame] = field(default_factory=list)
    values: Counter[str] = field(default_factory=Counter)

    def add(self, worklist: pd.DataFrame, settings: Settings) -> None:
        plan = PlanResult(worklist, LEARNED, settings.strategy.baseline_policy, None)
        self.actions.append(plan.summary().drop(index="total"))
        self.values.update(plan.totals())

    def extend(self, other: _Totals) -> None:
        """Add another batch's totals after these."""
        self.actions.extend(other.actions)
        self.values.update(other.values)

    def actions_table(self) -> pd.DataFrame:
        if not self.actions:
            return pd.DataFrame()
        return pd.concat(self.actions).groupby(level=0, sort=False).sum()


@dataclass
class _OrderKeys:
    """Priority and Loan_ID of every worked loan, and which loans were worked, per part."""

    all_below: int
    priority: list[npt.NDArray[np.float64]] = field(default_factory=list)
    worked: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    ids: list[pa.ChunkedArray] = field(default_factory=list)
    every_id: list[pa.ChunkedArray] | None = field(default_factory=list)
    loans: int = 0

    def add(self, part: pa.Table) -> None:
        actions = part.column(schema.RECOMMENDED_ACTION)
        worked = pc.not_equal(actions, HOLD).to_numpy(zero_copy_only=False).astype(np.bool_)
        ids = part.column(schema.LOAN_ID).cast(pa.large_string())
        self.priority.append(part.column(schema.PRIORITY).to_numpy()[worked])
        self.worked.append(worked)
        self.ids.append(ids.filter(pa.array(worked)))
        self.loans += part.num_rows
        if self.every_id is not None:
            self.every_id.append(ids)
            if self.loans > self.all_below:
                self.every_id = None

    def ranks(self) -> tuple[list[pa.Array], npt.NDArray[np.int64], pa.ChunkedArray]:
        """Per part, each loan's rank among the book's worked loans (null: held); every
        worked loan's rank and Loan_ID, in the same order."""
        ids = pa.chunked_array(
            [chunk for part in self.ids for chunk in part.chunks], pa.large_string()
        )
        if not self.worked:
            return [], np.empty(0, np.int64), ids
        priority = np.concatenate(self.priority)
        order = worklist_order(priority, pd.Series(ids, dtype=pd.ArrowDtype(pa.large_string())))
        rank = np.empty(len(priority), dtype=np.int64)
        rank[order] = np.arange(1, len(priority) + 1)
        parts: list[pa.Array] = []
        start = 0
        for worked in self.worked:
            count = int(worked.sum())
            full = np.zeros(len(worked), dtype=np.int64)
            full[worked] = rank[start : start + count]
            parts.append(pa.array(full, mask=~worked))
            start += count
        return parts, rank, ids

    def explained_ids(
        self, rank: npt.NDArray[np.int64], ids: pa.ChunkedArray, limit: int
    ) -> pa.Array:
        """The Loan_IDs whose reasons the plan shows."""
        if self.every_id is not None:
            return pa.chunked_array(
                [chunk for part in self.every_id for chunk in part.chunks], pa.large_string()
            ).combine_chunks()
        return ids.filter(pa.array(rank <= limit)).combine_chunks()


def stream_plan(
    path: Path,
    *,
    out: Path,
    settings: Settings,
    bundle: ModelBundle,
    policy: str = LEARNED,
    capacity: Mapping[str, int] | None = None,
    budget: float | None = None,
    mapping_path: Path | None = None,
    quarantine_path: Path | None = None,
    batch_rows: int | None = None,
    progress: ProgressReporter | None = None,
    cluster: DaskBatches | None = None,
) -> StreamPlanRun:
    """Plan a book batch by batch; write the plan in input order with each worked loan's
    rank in the whole book's worklist.

    Capacity and a budget bind the learned policy, as in memory, through its safe
    departures from BAU (a bundle without a safety guard would need the LP over every
    candidate of the whole book at once, so it is refused). The ``random`` policy draws
    per table, so it is refused too.
    """
    capacity = dict(settings.strategy.capacity if capacity is None else capacity)
    budget = settings.strategy.budget if budget is None else budget
    limited = policy == LEARNED and (bool(capacity) or budget is not None)
    _check(policy, limited, bundle, settings)
    started = time.monotonic()
    stream, latest, reports, tally = start_stream(
        path, settings, batch_rows, mapping_path, quarantine_path, progress, cluster
    )
    explain_all = settings.explain.scope == "all"
    work = parts_folder(out)
    keys = _OrderKeys(settings.explain.all_below)
    totals = _Totals()
    choices: BookChoices | None = None
    assignment: BookAssignment | None = None
    task = partial(
        _plan_task,
        settings=settings,
        bundle=bundle_source(bundle, cluster),
        policy=policy,
        limited=limited,
        parts=work / "planned",
    )
    try:
        rows = 0
        for piece in stream.run(task, latest):
            reports.write(piece.check)
            tally.add(piece.check)
            rows += piece.rows
            if piece.choices is not None:
                choices = choices or BookChoices(piece.choices.names)
                choices.extend(piece.choices)
            if piece.totals is not None:
                totals.extend(piece.totals)
            if piece.order is not None:
                keys.add(piece.order)
        require_accepted(rows, tally.rejected, reports.quarantine.path, "plan")
        planned = work / "planned"
        if limited and choices is not None:
            stream.progress.stage("Sharing capacity across the whole book")
            assignment = choices.solve(capacity, budget)
            planned = _assign(
                planned, work / "assigned", assignment, choices.names, keys, totals, settings
            )
        ranks, rank, ids = keys.ranks()
        reasons = None
        if not explain_all:
            wanted = keys.explained_ids(rank, ids, settings.explain.worked_loans)
            if len(wanted):  # an all-hold plan works no loan: no second read
                reasons = _reasons(rows_for(stream, wanted, latest), bundle, settings)
        stream.progress.stage(f"Writing the plan to {out}")
        written = _finish(planned, out, reasons, ranks, settings)
    finally:
        quarantine, warnings = reports.close()
        shutil.rmtree(work, ignore_errors=True)
    return StreamPlanRun(
        run=StreamRun(tally, quarantine, warnings, time.monotonic() - started),
        out_path=written,
        policy=policy,
        baseline_policy=settings.strategy.baseline_policy,
        loans=keys.loans,
        action_totals=totals.actions_table(),
        value_totals=dict(totals.values),
        prices=assignment.prices if assignment is not None else {},
        objective=assignment.objective if assignment is not None else None,
    )


@dataclass(frozen=True)
class _PlannedBatch:
    """What a batch's task sends back; its plan itself is written to its part."""

    check: BatchCheck
    rows: int
    #: Loan_ID, action and priority of each loan (without capacity: final already).
    order: pa.Table | None = None
    #: The learned choices of the batch's loans (with capacity or a budget).
    choices: BookChoices | None = None
    #: The batch's action mix and value (without capacity: final already).
    totals: _Totals | None = None


def _plan_task(
    raw: pd.DataFrame,
    batch: BatchInput,
    *,
    settings: Settings,
    bundle: BundleSource,
    policy: str,
    limited: bool,
    parts: Path,
) -> _PlannedBatch:
    """One batch validated, valued and planned; its worklist written as part ``index``."""
    result, table = checked_rows(raw, batch, settings)
    check = BatchCheck.of(result)
    if not len(table):
        return _PlannedBatch(check, 0)
    models = resolve_bundle(bundle)
    explain_all = settings.explain.scope == "all"
    inputs = action_values(table, models, settings, with_reasons=explain_all)
    if limited:  # the book's capacity is settled later; choose as a limited plan does
        inputs = inputs.limited()
    plan = plan_loans(
        table, models, settings, policy=policy, capacity={}, budget=None, inputs=inputs
    )
    worklist = plan.worklist
    if limited:
        choices = BookChoices(tuple(str(name) for name in inputs.values.columns))
        order = pd.Index(table[schema.LOAN_ID]).get_indexer(worklist[schema.LOAN_ID])
        choices.add(inputs, order)
        write_part(_with_arm_inputs(worklist, inputs, table, order), parts, batch.index)
        return _PlannedBatch(check, len(worklist), choices=choices)
    totals = _Totals()
    totals.add(worklist, settings)
    write_part(worklist, parts, batch.index)
    return _PlannedBatch(check, len(worklist), _order_columns(worklist), totals=totals)


def _order_columns(worklist: pd.DataFrame) -> pa.Table:
    columns = [schema.LOAN_ID, schema.RECOMMENDED_ACTION, schema.PRIORITY]
    return pa.Table.from_pandas(worklist[columns], preserve_index=False)


def _check(policy: str, limited: bool, bundle: ModelBundle, settings: Settings) -> None:
    if policy == RANDOM:
        raise ConfigError("the random policy draws per table; a streamed plan cannot use it.")
    if limited and (bundle.safety is None or not settings.strategy.safe.enabled):
        raise ConfigError(
            "a streamed plan shares capacity and a budget through the safe policy's "
            "departures from BAU; this model version has no safety guard (or "
            "strategy.safe.enabled is off). Plan the book without --stream, or retrain."
        )


def _with_arm_inputs(
    worklist: pd.DataFrame, inputs: ActionValues, table: pd.DataFrame, order: npt.NDArray[np.intp]
) -> pd.DataFrame:
    """The worklist plus what re-assigning a loan's arm later needs, per action."""
    extra: dict[str, npt.NDArray[np.float64]] = {}
    for action in inputs.values.columns:
        extra[_RECOVERED.format(action)] = inputs.recovered[action].to_numpy(np.float64)[order]
        extra[_COST.format(action)] = inputs.costs[action].to_numpy(np.float64)[order]
    outstanding = table[schema.OUTSTANDING_LOAN_AMOUNT].to_numpy(np.float64)
    extra[_HOLD_RECOVERED] = (inputs.fractions[HOLD].to_numpy(np.float64) * outstanding)[order]
    return worklist.assign(**extra)


def _assign(
    planned: Path,
    assigned: Path,
    assignment: BookAssignment,
    names: tuple[str, ...],
    keys: _OrderKeys,
    totals: _Totals,
    settings: Settings,
) -> Path:
    """Rewrite every part with its loans' final arms; count and order the final plan."""
    codes = np.full(_rows(planned), HOLD_CODE, dtype=np.int8)
    codes[assignment.rows] = assignment.codes
    labels = np.array([*names, HOLD], dtype=object)
    start = 0
    with TableSink(assigned) as sink:
        for file in sorted(planned.glob("*.parquet")):
            part = pq.read_table(file)
            count = part.num_rows
            chosen_at = arm_positions(codes[start : start + count], len(names))
            start += count
            # The baseline's arm as plan_loans reads it: hold (or a name it lacks) adds 0.
            found = pd.Index(names).get_indexer(
                part.column(schema.BASELINE_ACTION).to_numpy(zero_copy_only=False)
            )
            baseline = np.where(found < 0, len(names), found).astype(np.intp)
            matrix = {
                key: np.column_stack([part.column(column(a)).to_numpy() for a in names])
                for key, column in (
                    ("uplift", schema.uplift_column),
                    ("recovered", _RECOVERED.format),
                    ("costs", _COST.format),
                )
            }
            arm = chosen_arm_columns(
                chosen_at,
                uplift=matrix["uplift"],
                recovered=matrix["recovered"],
                costs=matrix["costs"],
                hold_value=part.column(schema.VALUE_IF_LEFT_ALONE).to_numpy(),
                hold_recovered=part.column(_HOLD_RECOVERED).to_numpy(),
                baseline_uplift=pick_arm(matrix["uplift"], baseline),
                priced=priced_capacity(
                    assignment.prices, chosen_at, matrix["costs"], pd.Index(names)
                ),
            )
            columns = {schema.RECOMMENDED_ACTION: pa.array(labels[chosen_at], pa.large_string())}
            columns.update({name: pa.array(values) for name, values in arm.items()})
            for name, values in columns.items():
                part = part.set_column(part.schema.get_field_index(name), name, values)
            part = part.drop_columns([n for n in part.column_names if n.startswith("__")])
            sink.write_arrow(part)
            keys.add(part)
            totals.add(part.select(_TOTAL_COLUMNS).to_pandas(), settings)
    return assigned


_TOTAL_COLUMNS = [
    schema.RECOMMENDED_ACTION,
    schema.EXPECTED_RECOVERED,
    schema.EXPECTED_COST,
    schema.EXPECTED_NET_RECOVERY,
    schema.EXPECTED_UPLIFT,
    schema.UPLIFT_VS_BASELINE,
    schema.VALUE_IF_LEFT_ALONE,
]


def _rows(folder: Path) -> int:
    return sum(pq.ParquetFile(file).metadata.num_rows for file in folder.glob("*.parquet"))


def _reasons(rows: pd.DataFrame, bundle: ModelBundle, settings: Settings) -> pd.DataFrame | None:
    """Reason columns for ``rows``, indexed by Loan_ID (None: nothing to explain)."""
    if not len(rows):
        return None
    made = loan_reasons(
        risk_design_matrix(rows, settings.risk),
        bundle,
        top_k=settings.explain.top_k,
        approximate=settings.explain.method == "approximate",
    )
    made.index = pd.Index(rows[schema.LOAN_ID].to_numpy(dtype=object))
    return made


def _finish(
    planned: Path,
    out: Path,
    reasons: pd.DataFrame | None,
    ranks: list[pa.Array],
    settings: Settings,
) -> Path:
    """Last pass: each part with its reasons and worklist rank, appended to ``out``."""
    names = [schema.reason_column(rank) for rank in range(1, settings.explain.top_k + 1)]
    files = sorted(planned.glob("*.parquet")) if planned.exists() else []
    with TableSink(out) as sink:
        for file, rank in zip(files, ranks, strict=True):
            part = pq.read_table(file)
            if reasons is not None or names[0] not in part.column_names:
                part = _with_reasons(part, reasons, names)
            sink.write_arrow(part.append_column(schema.WORKLIST_RANK, rank))
    return out


def _with_reasons(part: pa.Table, reasons: pd.DataFrame | None, names: list[str]) -> pa.Table:
    """Reason columns before ``guardrails``: the made sentence, blank for other loans."""
    made = reasons if reasons is not None else pd.DataFrame(columns=names)
    found = pc.index_in(
        part.column(schema.LOAN_ID).cast(pa.large_string()),
        value_set=pa.array(made.index.to_numpy(dtype=object), type=pa.large_string()),
    )
    source = pc.fill_null(pc.add(found, 1), 0)
    at = part.schema.get_field_index(schema.GUARDRAILS)
    for offset, name in enumerate(names):
        texts = made[name].to_numpy(dtype=object, na_value="").tolist()
        sentences = pa.array(["", *texts], type=pa.large_string())
        part = part.add_column(at + offset, name, sentences.take(source))
    return part

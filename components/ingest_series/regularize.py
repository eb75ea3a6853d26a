"""One series' points -> regular, gap-handled segments per time split. Pure numpy.

Given every accepted point of one series (from any number of files, in any order):

1. order: input order is (file index, position); a point earlier in time than one before it in
   input order counts as out of order (reported; sorting fixes it).
2. grid: each timestamp gets a step index on the declared frequency's grid. The grid's phase
   (offset within a step, or month within an N-month step) is the most common phase among the
   series' points, so a daily series stamped at 23:00 UTC is as regular as one at midnight.
   Points off the grid are rejected (off_grid "reject") or snapped to the nearest step.
3. duplicates: of several points on one step, the first in input order is kept; the others are
   rejected (duplicate_timestamp).
4. gaps: missing steps between consecutive points are counted over the whole series.
5. splits: points are cut into time-ordered splits (by fractions of the series' points, or at
   the cut timestamps). Everything after this happens inside one split, so a split never sees
   another split's values: no window crosses a boundary (except history, under step 7) and
   filling never interpolates towards a value of the next split.
6. segments: inside a split, gaps of at most max_gap_steps missing steps are filled (linear
   interpolation or forward fill); longer gaps, and every gap under "drop", end a segment.
   Each segment keeps which of its steps were rows of the source (`observed`), so evaluate
   can leave filled targets out. Windows are made inside segments only (windowing.py).
7. borrowed history (only with `borrow_steps` > 0, ingest_series'
   history_from_previous_split): a segment that starts right where the previous split's data
   ends (no missing step between them) is prefixed with up to `borrow_steps` (= lookback)
   steps of that earlier data, as it was filled for its own split. With at most L borrowed
   steps, every window's H targets still lie in the segment's own split (its targets start
   at step L of the extended segment or later), so only history crosses the boundary and
   only backwards in time: the first split never takes anything from a later one (rolling-
   origin backtesting). A gap at the boundary stops it (filling it would interpolate towards
   the next split's first value, a target).

Memory: a few int64/float64 arrays of the series' length; the windows are never materialised.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from seqline.components.ingest_series.frequency import Frequency
from seqline.components.ingest_series.records import PointBatch


@dataclass(frozen=True)
class SeriesPoints:
    """All accepted points of one series, unsorted (the concatenated PointBatches).

    Attributes:
        file_index: int64 [n]; positions: int64 [n] (input order is (file_index, position)).
        timestamps: int64 [n] epoch microseconds; values: float64 [n, k].
    """

    file_index: np.ndarray
    positions: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])


def concat_batches(batches: Iterable[PointBatch], width: int) -> SeriesPoints:
    """SeriesPoints of all `batches` of one series (k = `width` value columns)."""
    batches = list(batches)
    if not batches:
        empty = np.zeros(0, dtype=np.int64)
        return SeriesPoints(empty, empty, empty, np.zeros((0, width)))
    return SeriesPoints(
        np.concatenate([np.full(len(b.positions), b.file_index, np.int64) for b in batches]),
        np.concatenate([b.positions for b in batches]),
        np.concatenate([b.timestamps for b in batches]),
        np.concatenate([b.values for b in batches]).reshape(-1, width),
    )


@dataclass(frozen=True)
class Segment:
    """A run of consecutive grid steps inside one split, gaps (if any) filled.

    Attributes:
        split: the split name.
        timestamps: int64 [m] epoch microseconds of each step (on the grid).
        values: float64 [m, k], the config's columns (targets first).
        borrowed: how many leading steps were taken from the splits before this one (history
            only, step 7 of the module docstring); 0 by default.
        observed: bool [m], True where the step was a row of the source, False where it was
            filled; None (the default) = every step observed.
    """

    split: str
    timestamps: np.ndarray
    values: np.ndarray
    borrowed: int = 0
    observed: np.ndarray | None = None

    def observed_steps(self) -> np.ndarray:
        """bool [m]: `observed`, or all True when it is None."""
        if self.observed is None:
            return np.ones(len(self.timestamps), dtype=bool)
        return self.observed


@dataclass
class SeriesReport:
    """What regularising one series found.

    Attributes:
        points: split -> accepted points (real rows, not filled steps) in that split.
        off_grid: indices (into SeriesPoints) of off-grid points (rejected under "reject",
            snapped under "snap"); off_grid_rejected says which.
        duplicates: indices of rejected duplicates; duplicate_of: for each, the index of the
            point kept for that step.
        out_of_order: points earlier in time than a point before them in input order.
        gaps / missing_steps / largest_gap_steps: runs of missing steps between consecutive
            points over the whole series, their total length and the longest.
        filled_steps: steps filled inside splits, in total; filled_by_split: split -> steps
            filled inside that split (every split listed, 0 when none; they sum to
            filled_steps). A split's filled / (filled + points) is the share of its grid that
            is made up, what validate's max_filled_fraction checks per split.
        missing_by_split: split -> missing steps left unfilled (not data, not filled) in that
            split's grid: the gaps inside it longer than max_gap_steps (every gap under
            "drop"), plus the gap just before its first point when the previous split's data
            ends earlier (a gap across a boundary is never filled; it is counted in the later
            split, so the splits' grids tile the series from its first to its last step).
            gaps_by_split: how many such unfilled gaps. A split's grid is points + filled +
            missing; missing / grid is what validate's max_gap_fraction checks per split.
            Over all splits, filled + missing = missing_steps.
        breaks: gaps inside splits left unfilled (they end a segment); segments: segments made.
    """

    points: dict[str, int] = field(default_factory=dict)
    off_grid: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    off_grid_rejected: bool = True
    duplicates: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    duplicate_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    out_of_order: int = 0
    gaps: int = 0
    missing_steps: int = 0
    largest_gap_steps: int = 0
    filled_steps: int = 0
    filled_by_split: dict[str, int] = field(default_factory=dict)
    missing_by_split: dict[str, int] = field(default_factory=dict)
    gaps_by_split: dict[str, int] = field(default_factory=dict)
    breaks: int = 0
    segments: int = 0


class Grid:
    """Step indices <-> timestamps on a frequency's grid with a given phase.

    Fixed steps: step i is at `phase + i * step_micros`. Monthly (N months a step): step i is
    the first instant of month `phase + i * N` (months counted from 1970-01).
    """

    def __init__(self, frequency: Frequency, timestamps: np.ndarray) -> None:
        self.frequency = frequency
        if frequency.is_monthly:
            months = _months(timestamps)
            self.phase = _mode(np.mod(months, frequency.months))
        else:
            self.phase = _mode(np.mod(timestamps, frequency.step_micros))

    def on_grid(self, timestamps: np.ndarray) -> np.ndarray:
        """bool [n]: which timestamps are exactly on a step."""
        f = self.frequency
        if f.is_monthly:
            months = _months(timestamps)
            starts = _month_starts(months)
            return (timestamps == starts) & (np.mod(months, f.months) == self.phase)
        return np.mod(timestamps, f.step_micros) == self.phase

    def steps(self, timestamps: np.ndarray) -> np.ndarray:
        """int64 [n]: the nearest step of each timestamp (exact for on-grid ones; monthly: the
        month it falls in, then the nearest N-month step)."""
        f = self.frequency
        if f.is_monthly:
            rel = _months(timestamps) - self.phase
            return np.floor_divide(rel + f.months // 2, f.months)
        rel = timestamps - self.phase
        return np.floor_divide(rel + f.step_micros // 2, f.step_micros)

    def timestamps(self, steps: np.ndarray) -> np.ndarray:
        """int64 [n]: epoch microseconds of step indices."""
        f = self.frequency
        if f.is_monthly:
            return _month_starts(self.phase + steps * f.months)
        return self.phase + steps * f.step_micros


def _months(timestamps: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of epoch-microsecond timestamps (floored)."""
    return timestamps.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)


def _month_starts(months: np.ndarray) -> np.ndarray:
    """Epoch microseconds of the first instant of months since 1970-01."""
    return months.astype("datetime64[M]").astype("datetime64[us]").astype(np.int64)


def _mode(values: np.ndarray) -> int:
    """The most common value (the smallest among ties); 0 for no values.

    Shortcut for the usual regular series: if the first value is held by a strict majority
    it is the mode, found without sorting a copy of the array."""
    if values.size == 0:
        return 0
    first = values.flat[0]
    if 2 * int(np.count_nonzero(values == first)) > values.size:
        return int(first)
    unique, counts = np.unique(values, return_counts=True)
    return int(unique[int(np.argmax(counts))])


def count_out_of_order(points: SeriesPoints) -> int:
    """Points whose timestamp is earlier than that of a point before them in input order."""
    if len(points) < 2:
        return 0
    order = np.lexsort((points.positions, points.file_index))
    stamps = points.timestamps[order]
    running_max = np.maximum.accumulate(stamps)
    return int(np.count_nonzero(stamps[1:] < running_max[:-1]))


def split_bounds(
    n: int,
    grid_timestamps: np.ndarray,
    fractions: Sequence[float] | None,
    cut_micros: Sequence[int] | None,
) -> list[int]:
    """[0, b1, ..., n]: split i holds sorted points [b_i, b_{i+1}).

    fractions: cumulative fraction c_i of n points, rounded half up (the last bound is n).
    cut_micros: the first point at or after each cut starts the next split.
    """
    if cut_micros is not None:
        inner = np.searchsorted(grid_timestamps, np.asarray(cut_micros, np.int64), side="left")
        return [0, *(int(b) for b in inner), n]
    assert fractions is not None
    bounds = [0]
    total = 0.0
    for fraction in fractions[:-1]:
        total += fraction
        bounds.append(min(n, int(math.floor(n * total + 0.5))))
    bounds.append(n)
    return bounds


def fill_segment(relative_steps: np.ndarray, values: np.ndarray, policy: str) -> np.ndarray:
    """float64 [m, k] over steps 0..relative_steps[-1], the known rows in place and missing
    steps filled linearly ("interpolate") or with the previous known row ("ffill")."""
    m = int(relative_steps[-1]) + 1
    if m == len(relative_steps):
        return values
    if policy == "ffill":
        marker = np.full(m, -1, dtype=np.int64)
        marker[relative_steps] = np.arange(len(relative_steps))
        return values[np.maximum.accumulate(marker)]
    out = np.empty((m, values.shape[1]), dtype=np.float64)
    grid = np.arange(m, dtype=np.float64)
    for column in range(values.shape[1]):
        out[:, column] = np.interp(grid, relative_steps.astype(np.float64), values[:, column])
    out[relative_steps] = values  # known points exactly as given
    return out


@dataclass(frozen=True)
class RegularizeRules:
    """The config's regularisation settings (see IngestSeriesConfig)."""

    frequency: Frequency
    splits: tuple[str, ...]
    fractions: tuple[float, ...] | None
    cut_micros: tuple[int, ...] | None
    off_grid: str = "reject"
    gap_policy: str = "interpolate"
    max_gap_steps: int = 3
    borrow_steps: int = 0  # history steps a split's segment may take from the data before it


def borrowed_tail(
    earlier: Sequence[tuple[int, np.ndarray]], first_step: int, limit: int
) -> np.ndarray | None:
    """The last `limit` (or fewer) steps of the gap-free run of `earlier` segments that ends
    right before grid step `first_step`, float64 [<= limit, k]; None when no earlier segment
    ends there (a gap, or nothing before).

    earlier: (first grid step, filled values [m, k]) of each earlier segment, in time order,
    as made for its own split (never extended by borrowing).
    """
    parts: list[np.ndarray] = []
    need = limit
    end = first_step
    for start, values in reversed(earlier):
        if need == 0 or start + len(values) != end:
            break
        take = values[-need:] if need < len(values) else values
        parts.append(take)
        need -= len(take)
        end = start
    if not parts:
        return None
    return np.concatenate(parts[::-1], axis=0)


def regularize(points: SeriesPoints, rules: RegularizeRules) -> tuple[list[Segment], SeriesReport]:
    """Segments (in split then time order) and the report of one series; see the module
    docstring for the steps."""
    report = SeriesReport(
        points={s: 0 for s in rules.splits},
        filled_by_split={s: 0 for s in rules.splits},
        missing_by_split={s: 0 for s in rules.splits},
        gaps_by_split={s: 0 for s in rules.splits},
    )
    report.out_of_order = count_out_of_order(points)
    n_all = len(points)
    if n_all == 0:
        return [], report
    grid = Grid(rules.frequency, points.timestamps)
    on_grid = grid.on_grid(points.timestamps)
    report.off_grid = np.flatnonzero(~on_grid)
    report.off_grid_rejected = rules.off_grid == "reject"
    del on_grid
    if report.off_grid_rejected and report.off_grid.size:
        candidates = np.setdiff1d(np.arange(n_all), report.off_grid, assume_unique=True)
        steps = grid.steps(points.timestamps[candidates])
        keys = (points.positions[candidates], points.file_index[candidates], steps)
    else:  # every point is a candidate: skip the index copies (a million points: ~50 MB)
        candidates = None
        steps = grid.steps(points.timestamps)
        keys = (points.positions, points.file_index, steps)

    # Sort by step, then input order: the first point of each step is the one kept.
    order = np.lexsort(keys)
    del keys
    sorted_steps = steps[order]
    del steps
    sorted_index = order if candidates is None else candidates[order]
    del order, candidates
    repeat = np.zeros(len(sorted_steps), dtype=bool)
    repeat[1:] = sorted_steps[1:] == sorted_steps[:-1]
    if repeat.any():
        run_start = np.maximum.accumulate(np.where(repeat, 0, np.arange(len(repeat))))
        report.duplicates = sorted_index[repeat]
        report.duplicate_of = sorted_index[run_start[repeat]]
    keep = ~repeat
    step = sorted_steps[keep]
    values = points.values[sorted_index[keep]]
    del sorted_steps, sorted_index, repeat, keep
    n = len(step)

    missing = np.diff(step) - 1
    has_gap = missing > 0
    report.gaps = int(np.count_nonzero(has_gap))
    report.missing_steps = int(missing[has_gap].sum()) if report.gaps else 0
    report.largest_gap_steps = int(missing.max()) if report.gaps else 0

    stamps = grid.timestamps(step)
    bounds = split_bounds(n, stamps, rules.fractions, rules.cut_micros)
    limit = 0 if rules.gap_policy == "drop" else rules.max_gap_steps
    segments: list[Segment] = []
    earlier: list[tuple[int, np.ndarray]] = []  # (first step, filled values), unextended
    earlier_observed: list[tuple[int, np.ndarray]] = []  # (first step, observed [m, 1])
    for split, lo, hi in zip(rules.splits, bounds[:-1], bounds[1:], strict=True):
        report.points[split] += hi - lo
        if hi <= lo:
            continue
        split_missing = missing[lo : hi - 1]
        breaks = np.flatnonzero(split_missing > limit)
        report.breaks += len(breaks)
        unfilled = [int(split_missing[b]) for b in breaks]
        if lo > 0 and missing[lo - 1] > 0:  # the gap across the boundary before this split
            unfilled.append(int(missing[lo - 1]))
        report.missing_by_split[split] += sum(unfilled)
        report.gaps_by_split[split] += len(unfilled)
        starts = [int(lo), *(int(lo + b + 1) for b in breaks)]
        ends = [*(int(lo + b + 1) for b in breaks), int(hi)]
        for a, b in zip(starts, ends, strict=True):
            relative = step[a:b] - step[a]
            filled = fill_segment(relative, values[a:b], rules.gap_policy)
            made_up = len(filled) - (b - a)
            report.filled_steps += made_up
            report.filled_by_split[split] += made_up
            observed = np.zeros(len(filled), dtype=bool)
            observed[relative] = True
            first = int(step[a])
            prefix = observed_prefix = None
            if rules.borrow_steps:
                prefix = borrowed_tail(earlier, first, rules.borrow_steps)
                observed_prefix = borrowed_tail(earlier_observed, first, rules.borrow_steps)
                earlier.append((first, filled))
                earlier_observed.append((first, observed[:, None]))
            borrowed = 0 if prefix is None else len(prefix)
            if prefix is not None and observed_prefix is not None:
                filled = np.concatenate([prefix, filled], axis=0)
                observed = np.concatenate([observed_prefix[:, 0], observed])
            segment_steps = first - borrowed + np.arange(len(filled), dtype=np.int64)
            segments.append(
                Segment(split, grid.timestamps(segment_steps), filled, borrowed, observed)
            )
    report.segments = len(segments)
    return segments, report

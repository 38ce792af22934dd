"""Helpers shared by the benchmarks: percentiles and result rows."""
import math


def percentile(samples, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample list."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def row(name: str, value: float, unit: str, baseline: float | None = None,
        higher_is_better: bool = False, **extra) -> dict:
    """A result row; `ratio` is oriented so that higher is always better."""
    out = {"name": name, "value": value, "unit": unit}
    if baseline is not None:
        out["baseline"] = baseline
        if higher_is_better:
            out["ratio"] = value / baseline if baseline else float("inf")
        else:
            out["ratio"] = baseline / value if value else float("inf")
    out.update(extra)
    return out

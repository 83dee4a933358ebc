"""How often the backtest's intervals and probabilities tell the truth on pure noise (docs/metrics.md).

Zero-mean normal daily PnL, many worlds per day count: the share of worlds whose 90 % interval of
the mean covers 0 (plain percentile vs expanded), whose P(mean daily PnL > 0) exceeds 0.95 (plain vs
corrected), and whose deflated Sharpe exceeds 0.95. (The Sharpe interval covers 0 exactly when the
mean's does: the same resamples, and a resample's Sharpe has its mean's sign.)

Usage: ``python -m benchmarks.metrics_calibration`` (about a minute).
"""

from __future__ import annotations

import numpy as np

from live_engine.backtest import stats

DAYS = (5, 10, 20, 60)


def main() -> None:
    rng = np.random.default_rng(20261202)
    print("| days | plain 90 % interval covers the true mean | expanded | plain P(mean > 0) > 0.95 | corrected |")
    print("| --- | --- | --- | --- | --- |")
    for n in DAYS:
        worlds = 400
        plain = expanded = fp_plain = fp_corr = 0
        for _ in range(worlds):
            d = rng.normal(0.0, 100.0, n)
            reps = stats.block_bootstrap(d)
            lo, hi = stats.interval(reps, 0.90)
            plain += lo <= 0 <= hi
            lo, hi = stats.interval(reps, 0.90, n_eff=stats.effective_n(n))
            expanded += lo <= 0 <= hi
            fp_plain += stats.prob_positive(d) > 0.95
            fp_corr += stats.prob_positive(d, expanded=True) > 0.95
        print(f"| {n} | {plain / worlds:.1%} | {expanded / worlds:.1%} | {fp_plain / worlds:.1%} | "
              f"{fp_corr / worlds:.1%} |")
    print()
    print("| days | DSR > 0.95, 1 configuration | 12 configurations |")
    print("| --- | --- | --- |")
    for n in DAYS:
        worlds = 2000
        row = []
        for trials in (1, 12):
            v = np.array([stats.deflated_sharpe(rng.normal(0.0, 100.0, n), trials) for _ in range(worlds)])
            row.append(f"{np.mean(v[np.isfinite(v)] > 0.95):.1%}")
        print(f"| {n} | {row[0]} | {row[1]} |")


if __name__ == "__main__":
    main()

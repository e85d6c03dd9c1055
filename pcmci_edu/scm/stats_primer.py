"""The statistics primer's computed examples: paired comparisons on benchmark draws, power and
the minimum detectable effect, equivalence (TOST), and why the draw is the unit of replication.

Chapters 3-8 compare two configurations (say a base model and one with an intervention) trained
on the same benchmark draws with nested model seeds. :func:`simulate_comparison` makes rows of
that shape with a known truth: every draw ``d`` has its own difficulty (shared by both
configurations: it cancels in a paired difference), its own true difference (the effect of the
intervention varies from draw to draw around ``effect``), and seed noise. The tests themselves
are the package's (:func:`pcmci_edu.experiments.statistics.paired_test`, ``holm``) and
statsmodels' (``TTestPower``, ``ttost_paired``); this module only arranges the examples.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from pcmci_edu.experiments.statistics import paired_test


def _accuracies(rng: np.random.Generator, draws: int, seeds: int, effect: float, draw_sd: float,
                effect_sd: float, seed_sd: float, base: float) -> np.ndarray:
    """Accuracies of shape ``(draws, seeds, 2)``: variant 0 is the base, 1 the treated one."""
    difficulty = rng.normal(0.0, draw_sd, (draws, 1, 1))
    deviation = rng.normal(0.0, effect_sd, (draws, 1, 1))
    treated = np.array([0.0, 1.0])[None, None, :]
    return base + difficulty + treated * (effect + deviation) + rng.normal(0.0, seed_sd, (draws, seeds, 2))


def simulate_comparison(draws: int, seeds: int, effect: float, *, draw_sd: float = 0.05,
                        effect_sd: float = 0.01, seed_sd: float = 0.01, base: float = 0.6,
                        rng_seed: int = 0) -> pd.DataFrame:
    """Accuracy rows ``(benchmark_seed, seed, variant, accuracy)`` for variants ``base`` and
    ``treated`` on ``draws`` benchmark draws with ``seeds`` model seeds each.

    ``accuracy = base + difficulty_d + [treated] * (effect + deviation_d) + noise``, with
    ``difficulty_d ~ N(0, draw_sd)`` shared by both variants, ``deviation_d ~ N(0, effect_sd)``
    (the intervention helps more on some draws than on others) and ``noise ~ N(0, seed_sd)`` per
    run.
    """
    if draws < 1 or seeds < 1:
        raise ValueError(f"need at least one draw and one seed, got draws={draws}, seeds={seeds}")
    values = _accuracies(np.random.default_rng(rng_seed), draws, seeds, effect, draw_sd, effect_sd, seed_sd, base)
    index = pd.MultiIndex.from_product([range(draws), range(seeds), ["base", "treated"]],
                                       names=["benchmark_seed", "seed", "variant"])
    return pd.Series(values.ravel(), index=index, name="accuracy").reset_index()


def per_draw(rows: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """One row per draw, one column per variant: the mean over the draw's seeds (seeds are
    nested in a draw, so they are averaged, not counted as replicates)."""
    return rows.groupby(["benchmark_seed", "variant"])[metric].mean().unstack("variant")


def paired_versus_unpaired(rows: pd.DataFrame, first: str = "treated", second: str = "base",
                           metric: str = "accuracy") -> pd.DataFrame:
    """The same comparison three ways: paired over draws (right), unpaired over draws (ignores
    that both variants saw the same draw) and paired over every (draw, seed) run as if runs were
    independent (pseudo-replication). Columns: n, mean difference, 95% interval, p."""
    means = per_draw(rows, metric)
    paired = paired_test(means[first], means[second])
    welch = scipy.stats.ttest_ind(means[first], means[second], equal_var=False)
    welch_ci = welch.confidence_interval(0.95)
    runs = rows.pivot_table(index=["benchmark_seed", "seed"], columns="variant", values=metric)
    pseudo = paired_test(runs[first], runs[second])
    table = pd.DataFrame([
        {"analysis": "paired, one difference per draw", "n": paired["n"], "mean difference": paired["mean_diff"],
         "ci_low": paired["ci_low"], "ci_high": paired["ci_high"], "p": paired["p"]},
        {"analysis": "unpaired, draws as two groups", "n": len(means),
         "mean difference": float(means[first].mean() - means[second].mean()),
         "ci_low": float(welch_ci.low), "ci_high": float(welch_ci.high), "p": float(welch.pvalue)},
        {"analysis": "pseudo-replicated: every run a unit", "n": pseudo["n"], "mean difference": pseudo["mean_diff"],
         "ci_low": pseudo["ci_low"], "ci_high": pseudo["ci_high"], "p": pseudo["p"]},
    ])
    return table.set_index("analysis")


def false_positive_rates(simulations: int, draws: int, seeds: int, *, draw_sd: float = 0.05,
                         effect_sd: float = 0.01, seed_sd: float = 0.005, alpha: float = 0.05,
                         rng_seed: int = 0) -> pd.Series:
    """How often each analysis of :func:`paired_versus_unpaired` calls a difference "clear"
    (p < ``alpha``) when the intervention's *average* effect is zero (it only varies by draw).

    A valid test does so in about ``alpha`` of the simulations (the unpaired one less: it is
    valid but drowned by the draws' difficulty); counting seeds as replicates does so far more
    often, because it mistakes the draw-to-draw variation for a consistent effect. The same
    three scipy tests as :func:`paired_versus_unpaired`, run on all simulations at once.
    """
    rng = np.random.default_rng(rng_seed)
    values = np.stack([_accuracies(rng, draws, seeds, 0.0, draw_sd, effect_sd, seed_sd, 0.6)
                       for _ in range(simulations)])                      # (simulations, draws, seeds, 2)
    means = values.mean(axis=2)                                            # seeds averaged within a draw
    runs = values.reshape(simulations, draws * seeds, 2)
    p = {"paired, one difference per draw": scipy.stats.ttest_rel(means[..., 1], means[..., 0], axis=1).pvalue,
         "unpaired, draws as two groups": scipy.stats.ttest_ind(means[..., 1], means[..., 0], axis=1,
                                                                equal_var=False).pvalue,
         "pseudo-replicated: every run a unit": scipy.stats.ttest_rel(runs[..., 1], runs[..., 0], axis=1).pvalue}
    return pd.Series({analysis: float(np.mean(values < alpha)) for analysis, values in p.items()},
                     name=f"share with p < {alpha} (true mean effect 0)")


def minimum_detectable_effect(sd_difference: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference a two-sided paired t test on ``n`` pairs detects with
    probability ``power`` at level ``alpha``, given the sd of the paired differences
    (statsmodels' ``TTestPower``, solved for the standardised effect, times the sd).

    >>> round(minimum_detectable_effect(0.02, 5), 4)
    0.0336
    """
    if n < 2:
        return math.nan
    standardised = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power,
                                            alternative="two-sided")
    return float(standardised * sd_difference)


def power_curve(sd_difference: float, effects: np.ndarray, ns: tuple[int, ...] = (3, 5, 10, 20),
                alpha: float = 0.05) -> pd.DataFrame:
    """Power of the paired t test for each true effect (rows) and number of draws (columns)."""
    analysis = TTestPower()
    return pd.DataFrame({n: [float(analysis.power(effect_size=effect / sd_difference, nobs=n, alpha=alpha))
                             for effect in effects] for n in ns},
                        index=pd.Index(np.round(effects, 4), name="true effect")).rename_axis(columns="draws")


def equivalence_test(first: np.ndarray, second: np.ndarray, margin: float) -> dict[str, float]:
    """TOST, paired: is the mean difference ``first - second`` inside ``(-margin, margin)``?

    Two one-sided tests (statsmodels' ``ttost_paired``); the larger of their p-values is the
    equivalence p. "No effect" is claimed only when it is below 0.05: a non-significant
    difference alone is not evidence of no difference.
    """
    if margin <= 0:
        raise ValueError(f"the equivalence margin must be positive, got {margin}")
    p, _, _ = ttost_paired(np.asarray(first, float), np.asarray(second, float), -margin, margin)
    test = paired_test(first, second, confidence=0.90)  # TOST at 5% = the 90% interval inside the margin
    return {"mean_diff": test["mean_diff"], "ci90_low": test["ci_low"], "ci90_high": test["ci_high"],
            "margin": margin, "p_equivalence": float(p), "p_difference": paired_test(first, second)["p"]}

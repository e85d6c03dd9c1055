"""The experiment harness behind chapters 3-7: named variants, one run -> one row, cached grids.

A *variant* names one configuration the chapters compare (the base, a capacity control, an
intervention, an order of the three, the oracle). A run trains a variant for one seed on a
benchmark and returns a *row*: accuracy and both mAP conventions on ``test`` and
``test_shift``, the shift gap, the masking probe, and the cost (parameters, FLOPs, step time).
Grids of runs are cached, keyed by the code that decides their numbers, so a rerun or a later
chapter reuses them. One idea per module:

- :mod:`~pcmci_edu.experiments.variants`: the configurations and the poster's tables;
- :mod:`~pcmci_edu.experiments.runs`: run settings, one run, grids of runs, few-shot runs;
- :mod:`~pcmci_edu.experiments.cache`: the run cache, its keys and the code fingerprint;
- :mod:`~pcmci_edu.experiments.parallel`: independent runs in worker processes, one per core;
- :mod:`~pcmci_edu.experiments.evaluation`: the measures of one trained model, zero-shot;
- :mod:`~pcmci_edu.experiments.tables`: mean and spread over seeds, display tables;
- :mod:`~pcmci_edu.experiments.statistics`: paired comparisons, Holm over a chapter's family;
- :mod:`~pcmci_edu.experiments.evidence`: the draw as the unit, declared primaries, TOST, MDE,
  verdicts and the chapters' evidence files;
- :mod:`~pcmci_edu.experiments.chapter7`: chapter 7's primaries, exploratory tables, findings and results file;
- :mod:`~pcmci_edu.experiments.probes`: looking inside a trained model (chapters 4-6);
- :mod:`~pcmci_edu.experiments.mechanisms`: does each intervention act on its own confounder;
- :mod:`~pcmci_edu.experiments.plots`: bar charts of the summary tables, forest plots.

Every public name is importable from here (``from pcmci_edu import experiments as ex``).
"""

from pcmci_edu.experiments.cache import (FINGERPRINT_PATHS, HARNESS_VERSION, PACKAGE_ROOT, RunCache,
                                         benchmark_signature, code_fingerprint, default_cache_dir,
                                         default_results_dir, fingerprinted_files, read_json, run_key,
                                         write_json_atomic)
from pcmci_edu.experiments.chapter7 import (BEYOND_THE_PAPER, chapter7_exploratory, chapter7_family,
                                            chapter7_findings, findings_from_results, order_table,
                                            write_results)
from pcmci_edu.experiments.evidence import (EVIDENCE_VERSION, FAMILY_COLUMNS, PRIMARY_FAMILIES, SPLIT_SUFFIXES,
                                            VERDICTS, PrimaryComparison, PrimaryFamily, analyse_exploratory,
                                            analyse_family, assert_stored_analysis, declare_primary,
                                            format_p, in_distribution_metric, load_evidence, long_rows,
                                            minimum_detectable_effect, paired_power, per_draw_comparison,
                                            split_of_column, summary_table, verdict, verdict_markdown, wide_rows,
                                            write_evidence)
from pcmci_edu.experiments.evaluation import (HEADLINE_METRICS, SHIFT_SUFFIXES, SPLIT_SUFFIX, evaluate_model,
                                              predict_probabilities, predict_scores, split_measures, zero_shot)
from pcmci_edu.experiments.plots import forest_plot, plot_summary
from pcmci_edu.experiments.probes import (activities_per_action, attention_on_own_action, frame_truth,
                                          label_similarity, model_details, part_occlusion,
                                          per_class_average_precision, plan_mass_on_truth)
from pcmci_edu.experiments.runs import (RunSettings, benchmark_seed, build_model, draws_for_profile, few_shot,
                                        run_draws, run_grid, run_variant, seeds_for_profile, seeds_per_draw,
                                        torch_threads, trained_model)
from pcmci_edu.experiments.statistics import (CLEAR_BELOW, COMPARISON_COLUMNS, DRAW, PAIR_ON, RESULT_COLUMNS, SEED,
                                              best_variant, compare, correct_family, describe, describe_family,
                                              draw_means,
                                              family_size, holm, lookup, paired_comparisons, paired_test,
                                              paired_values, rank_correlation, repeated_measures_test)
from pcmci_edu.experiments.tables import SUMMARY_METRICS, format_table, summarize
from pcmci_edu.experiments.mechanisms import (codependency_margin, context_decodability, context_variance_share,
                                              label_companion_alignment, pooled_video_vectors)
from pcmci_edu.experiments.variants import (ABLATION, INTERVENTION_NAMES, ORACLE_VARIANTS, ORDER_VARIANTS, ORDERS,
                                            PCMCI_ORDER, POSTER_ABLATION, POSTER_ORDERS, REFERENCES, TARGETS,
                                            VARIANTS, Variant, get_variant, order_name)

__all__ = [
    "DRAW", "SEED", "EVIDENCE_VERSION", "FAMILY_COLUMNS", "PRIMARY_FAMILIES", "SPLIT_SUFFIXES", "VERDICTS", "PrimaryComparison",
    "PrimaryFamily", "analyse_exploratory", "analyse_family", "assert_stored_analysis", "declare_primary",
    "draw_means", "draws_for_profile", "forest_plot", "format_p", "in_distribution_metric", "load_evidence",
    "long_rows", "minimum_detectable_effect", "paired_power", "per_draw_comparison", "run_draws", "seeds_per_draw",
    "split_of_column", "summary_table", "verdict", "verdict_markdown", "wide_rows", "write_evidence",
    "ORACLE_VARIANTS", "SHIFT_SUFFIXES", "TARGETS", "codependency_margin", "context_decodability",
    "context_variance_share", "label_companion_alignment", "pooled_video_vectors",
    "ABLATION", "BEYOND_THE_PAPER", "CLEAR_BELOW", "COMPARISON_COLUMNS", "FINGERPRINT_PATHS",
    "HARNESS_VERSION", "HEADLINE_METRICS", "INTERVENTION_NAMES", "ORDERS", "ORDER_VARIANTS", "PACKAGE_ROOT",
    "PAIR_ON", "PCMCI_ORDER", "RESULT_COLUMNS", "POSTER_ABLATION", "POSTER_ORDERS", "REFERENCES", "RunCache", "RunSettings",
    "SPLIT_SUFFIX", "SUMMARY_METRICS", "VARIANTS", "Variant", "activities_per_action",
    "attention_on_own_action", "benchmark_seed", "benchmark_signature", "best_variant", "build_model",
    "chapter7_exploratory", "chapter7_family", "chapter7_findings", "findings_from_results", "order_table", "code_fingerprint", "compare", "correct_family",
    "default_cache_dir", "default_results_dir", "describe", "describe_family", "evaluate_model",
    "family_size", "few_shot", "fingerprinted_files", "format_table", "frame_truth", "get_variant", "holm",
    "label_similarity", "lookup", "model_details", "order_name", "paired_comparisons", "paired_test",
    "paired_values", "part_occlusion", "per_class_average_precision", "plan_mass_on_truth", "plot_summary",
    "predict_probabilities", "predict_scores", "rank_correlation", "read_json", "repeated_measures_test",
    "run_grid", "run_key", "run_variant", "seeds_for_profile", "split_measures", "summarize", "torch_threads",
    "trained_model", "write_json_atomic", "write_results", "zero_shot",
]

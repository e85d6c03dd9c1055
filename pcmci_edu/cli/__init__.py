"""The command line: ``pcmci-edu info | prepare | extract | train | evaluate | results``.

A full run on one dataset (the run configurations ship with the package, in
``pcmci_edu/configs``; ``--config`` takes their name or a path to your own .toml file)::

    pcmci-edu prepare breakfast --root DATA --accept-licence
    pcmci-edu extract breakfast --root DATA
    pcmci-edu train --config breakfast --root DATA --out runs/breakfast
    pcmci-edu evaluate --config breakfast --root DATA --out runs/breakfast

``train`` runs on several GPUs under ``torchrun --nproc_per_node=G -m pcmci_edu.cli train ...``.
Any configuration value can be overridden with ``--set section.key=value``. One idea per module:

- :mod:`~pcmci_edu.cli.config`: the run configuration, its overrides and checks;
- :mod:`~pcmci_edu.cli.datasets`: the real datasets' splits with their feature store;
- :mod:`~pcmci_edu.cli.provenance`: code version, hardware, what made the features;
- :mod:`~pcmci_edu.cli.prepare`: ``info`` and ``prepare``;
- :mod:`~pcmci_edu.cli.extract`: ``extract``, from videos or ``--from-features``;
- :mod:`~pcmci_edu.cli.train`: ``train``;
- :mod:`~pcmci_edu.cli.evaluate`: ``evaluate`` and its results table;
- :mod:`~pcmci_edu.cli.results`: ``results``, your runs beside the paper's numbers;
- :mod:`~pcmci_edu.cli.parser`: the argument parser and help texts;
- :mod:`~pcmci_edu.cli.entry`: the entry point and its one-line errors (``--debug``).

Every public name is importable from here (``from pcmci_edu import cli``).
"""

from pcmci_edu.cli.config import (CONFIG_SECTIONS, CONFIGS_DIR, default_config_path, load_run_config,
                                  resolve_config, shipped_configs)
from pcmci_edu.cli.datasets import DEFAULT_VAL_FRACTION, _store_dir, open_split, training_splits
from pcmci_edu.cli.entry import error_message, main
from pcmci_edu.cli.evaluate import (EVALUATION_KEYS, METRIC_NAMES, evaluation_config, feature_identity,
                                    load_trained_model, results_table)
from pcmci_edu.cli.parser import DATASETS, DESCRIPTION, build_parser
from pcmci_edu.cli.provenance import FEATURE_DEFINING, code_version, extractor_provenance, hardware
from pcmci_edu.cli.results import (PAPER_MAIN_TABLE, RESULTS_FILE, all_classes_ceiling, comparison_text,
                                   paper_comparison, read_results, results_rows)
from pcmci_edu.cli.train import HISTORY_FILE, MODEL_FILE

__all__ = [
    "EVALUATION_KEYS", "all_classes_ceiling", "comparison_text", "evaluation_config", "feature_identity",
    "paper_comparison", "CONFIGS_DIR", "CONFIG_SECTIONS", "DATASETS", "DEFAULT_VAL_FRACTION", "DESCRIPTION", "FEATURE_DEFINING",
    "HISTORY_FILE", "METRIC_NAMES", "MODEL_FILE", "PAPER_MAIN_TABLE", "RESULTS_FILE", "build_parser",
    "code_version", "default_config_path", "error_message", "extractor_provenance", "hardware",
    "load_run_config", "load_trained_model", "main", "open_split", "read_results", "resolve_config",
    "results_rows", "results_table", "shipped_configs", "training_splits",
]

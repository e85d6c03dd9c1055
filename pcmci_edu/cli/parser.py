"""The argument parser of ``pcmci-edu``: its sub-commands, options and help texts.

One sub-command per step of the pipeline (``info``, ``prepare``, ``extract``, ``train``,
``evaluate``), each with a one-line summary, a description and a default stated in every
option's help; each sub-command's handler lives in the module of the same name.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from pcmci_edu import __version__
from pcmci_edu.cli import evaluate as evaluate_command
from pcmci_edu.cli import extract as extract_command
from pcmci_edu.cli import prepare as prepare_command
from pcmci_edu.cli import results as results_command
from pcmci_edu.cli import train as train_command


DESCRIPTION = """\
Prepare the real datasets, extract CLIP features, train PCMCi and evaluate it.

A full run on one dataset:
  pcmci-edu prepare breakfast --root DATA --accept-licence
  pcmci-edu extract breakfast --root DATA
  pcmci-edu train --config breakfast --root DATA --out runs/breakfast
  pcmci-edu evaluate --root DATA --out runs/breakfast   (the run's own configuration and store)
  pcmci-edu results runs                                (your runs beside the poster's numbers)

--config takes a shipped configuration by name (breakfast, coin, charades) or the path
of a .toml file; --set section.key=value overrides one of its values. Several GPUs:
  torchrun --nproc_per_node=G -m pcmci_edu.cli train --config coin --root DATA --out runs/coin
Run `pcmci-edu <command> --help` for a command's options."""


DATASETS = ("breakfast", "coin", "charades")


def _add_run_options(parser: argparse.ArgumentParser, dataset_positional: bool, recorded: bool = False) -> None:
    if dataset_positional:
        parser.add_argument("dataset", choices=DATASETS, help="which dataset: %(choices)s")
        parser.add_argument("--config", default=None,
                            help="run configuration: a shipped name (breakfast, coin, charades) or a .toml "
                                 "path (default: the shipped configuration of DATASET)")
    elif recorded:
        parser.add_argument("--config", default=None,
                            help="not needed: the run's configuration is read from its model file; a value "
                                 "that differs from it is ignored and said so (default: the model file's)")
    else:
        parser.add_argument("--config", required=True,
                            help="run configuration: a shipped name (breakfast, coin, charades) or a .toml "
                                 "path (required)")
    parser.add_argument("--root", type=Path, required=True,
                        help="data folder that holds <dataset>/ (required)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help=("only dataset.test_split and dataset.min_coverage apply; any other value that "
                              "differs from the run's recorded one is ignored and said so (default: none)"
                              if recorded else
                              "override a config value, e.g. --set train.epochs=10; repeatable (default: none)"))
    parser.add_argument("--device", default=None,
                        help="cuda, cuda:1 or cpu (default: CUDA when a GPU is visible, else the CPU)")


def _integer_at_least(text: str, minimum: int, expected: str) -> int:
    """``text`` as an integer >= ``minimum``, else an argparse error saying what was ``expected``."""
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _integer_at_least(text, 1, "a positive integer")


def _seed(text: str) -> int:
    """An argparse type: a seed, an integer >= 0."""
    return _integer_at_least(text, 0, "a seed, an integer >= 0")


def _command(commands, name: str, summary: str, details: str = "") -> argparse.ArgumentParser:
    """A sub-command with a one-line summary (in the command list) and a description."""
    description = summary + ("\n\n" + textwrap.fill(details, 88) if details else "")
    return commands.add_parser(name, help=summary, description=description,
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per step of the pipeline."""
    parser = argparse.ArgumentParser(prog="pcmci-edu", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pcmci_edu {__version__}",
                        help="print the package version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     title="commands")

    info = _command(commands, "info", "Print the compute device and the versions of the stack.")
    info.set_defaults(handler=prepare_command._info)

    prepare = _command(commands, "prepare", "Download a dataset's files from its official sources.",
                       "Files go to <root>/<dataset>; nothing is downloaded without --accept-licence.")
    prepare.add_argument("dataset", choices=DATASETS, help="which dataset: %(choices)s")
    prepare.add_argument("--root", type=Path, required=True,
                         help="data folder; files go to <root>/<dataset> (required)")
    prepare.add_argument("--include", nargs="+", default=["annotations"],
                         choices=("annotations", "features", "videos"),
                         help="what to fetch, one or more of %(choices)s (default: annotations; "
                              "Breakfast's come with its I3D features)")
    prepare.add_argument("--accept-licence", action="store_true",
                         help="you have read and accept the dataset's licence, research use only for all "
                              "three (default: not accepted, nothing is downloaded)")
    prepare.add_argument("--mirror", default=None,
                         help="base URL serving the same file names (default: the official sources)")
    prepare.add_argument("--from-dir", type=Path, default=None,
                         help="folder where the files already are: copied and verified, no download "
                              "(default: download)")
    prepare.add_argument("--no-verify", action="store_true",
                         help="skip the pinned sha256 checks (default: verify)")
    prepare.add_argument("--keep-archives", action="store_true",
                         help="keep .zip files after unpacking (default: delete them)")
    prepare.set_defaults(handler=prepare_command._prepare)

    extract = _command(commands, "extract", "Encode the videos and label texts with open_clip into a feature store.",
                       "Videos already in the store are skipped; unreadable ones are logged to "
                       "failed_videos.tsv. The store records how it was made in extraction.json.")
    _add_run_options(extract, dataset_positional=True)
    extract.add_argument("--videos", type=Path, default=None,
                         help="video folder (default: <root>/<dataset>/videos)")
    extract.add_argument("--from-features", type=Path, default=None, metavar="DIR",
                         help="import published per-video features from DIR instead of decoding videos "
                              "(default: decode videos; see --layout)")
    extract.add_argument("--layout", default=None, metavar="NAME|FILE.toml",
                         help="how DIR stores the features: hero-clip (UniVTG's CLIP ViT-B/32 "
                              "vid_clip/<id>.npz; default for coin and charades), hero-slowfast (UniVTG's "
                              "SlowFast vid_slowfast/<id>.npz), mstcn-i3d (MS-TCN's I3D <id>.npy; default for "
                              "breakfast), or a .toml file declaring a layout")
    extract.add_argument("--allow-other-text-tower", dest="allow_other_text_tower", action="store_true",
                         help="with --from-features: encode the label texts with a text tower other than the one "
                              "that made the layout's frames (another model or weights tag; recorded in "
                              "extraction.json) (default: refused, the frames and texts would not share a space)")
    extract.add_argument("--out", type=Path, default=None,
                         help="feature store folder (default: <root>/<dataset>/ + the config's dataset.features "
                              "with the model actually used, e.g. features/clip_vit_b16_openai; with "
                              "--from-features: features/<layout>_<text model>_<weights>)")
    extract.add_argument("--model-name", dest="model_name", default=None,
                         help="open_clip model name (default: the config's extract.model_name)")
    extract.add_argument("--pretrained", default=None,
                         help="open_clip tag (openai), a local checkpoint file, or none for random weights "
                              "(default: the config's extract.pretrained)")
    extract.add_argument("--num-frames", dest="num_frames", type=int, default=None,
                         help="frames stored per video (default: the config's extract.num_frames)")
    extract.add_argument("--sampling", choices=("uniform", "random"), default=None,
                         help="which frames: %(choices)s (default: the config's extract.sampling)")
    extract.add_argument("--batch-size", dest="batch_size", type=int, default=None,
                         help="frames per forward pass (default: the config's extract.batch_size)")
    extract.add_argument("--num-workers", dest="num_workers", type=int, default=None,
                         help="video decoding processes (default: up to 8 on CUDA, capped by the CPU count)")
    extract.add_argument("--image-size", dest="image_size", type=int, default=None,
                         help="input size in pixels, smaller only for quick CPU checks (default: the model's)")
    extract.set_defaults(handler=extract_command._extract_holding_the_store)

    train = _command(commands, "train", "Train PCMCi from a run configuration (torchrun for several GPUs).",
                     "Holds out [dataset] val_fraction of the training videos (default 0.1, drawn by [dataset] "
                     "split_seed) as a validation split, evaluated every --eval-every epochs. Each epoch prints one "
                     "line and is appended to <out>/history.csv (training loss, validation metrics) and to the run's "
                     "log <out>/train.log; TensorBoard scalars go to <out>/tensorboard when tensorboard is installed "
                     "(pip install tensorboard). The same command resumes an interrupted run from "
                     "<out>/checkpoints/last.pt; a run that diverges (NaN loss or weights) stops with an error, "
                     "keeping the last finite checkpoint. One train at a time per --out.")
    _add_run_options(train, dataset_positional=False)
    train.add_argument("--out", type=Path, required=True,
                       help="run folder for checkpoints, history.csv, train.log and model.pt (required)")
    train.add_argument("--epochs", type=_positive_int, default=None,
                       help="number of epochs (default: the config's train.epochs)")
    train.add_argument("--eval-every", dest="eval_every", type=_positive_int, default=None,
                       help="evaluate the validation split every K epochs and after the last "
                            "(default: the config's train.eval_every, else 1)")
    train.add_argument("--extend", action="store_true",
                       help="train a finished (or stopped) run in --out further, to a larger --epochs; its "
                            "learning-rate schedule is stretched to the new length (default: refuse other epochs)")
    seeds = train.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=_seed, default=None,
                       help="seed of the model's initialisation and of the training order, dropout and frame draws "
                            "(sets model.seed and train.seed; the validation videos follow dataset.split_seed) "
                            "(default: the config's seeds)")
    seeds.add_argument("--seeds", type=_seed, nargs="+", default=None, metavar="SEED",
                       help="train one run per seed into <out>/seed_<k> and write the mean and 95%% interval of "
                            "each final validation metric to <out>/seeds_summary.json (default: one run)")
    train.set_defaults(handler=train_command._train)

    evaluate = _command(commands, "evaluate", "Evaluate a trained model on the test split; print and save the results.",
                        "Uses the run's own record: the configuration and the feature store's extraction.json "
                        "saved in model.pt (a store extracted again since is refused, naming both). Writes "
                        "accuracy and both mAP conventions with their provenance (package version, git "
                        "commit, hardware) and the all-classes mAP's ceiling to results.json.")
    _add_run_options(evaluate, dataset_positional=False, recorded=True)
    evaluate.add_argument("--out", type=Path, required=True, help="run folder of `pcmci-edu train` (required)")
    evaluate.add_argument("--checkpoint", type=Path, default=None, help="trained model (default: <out>/model.pt)")
    evaluate.add_argument("--output", type=Path, default=None, help="results file (default: <out>/results.json)")
    evaluate.add_argument("--label", default=None,
                          help="free text stored in the results, e.g. what run this is (default: none)")
    evaluate.set_defaults(handler=evaluate_command._evaluate)
    results = _command(commands, "results", "Print your runs beside the poster's numbers.",
                       "Reads every results.json under RUNS and prints, per dataset, your metrics, the poster's "
                       "number for the same interventions, PCMCi's and its peers' figures as in the poster, and "
                       "the ceiling an all-classes mAP cannot exceed on your test split.")
    results.add_argument("runs", type=Path, help="folder holding the run folders, searched recursively (required)")
    results.add_argument("--format", choices=("text", "csv"), default="text",
                         help="output: %(choices)s (default: text)")
    results.add_argument("--include-checks", dest="include_checks", action="store_true",
                         help="also list runs labelled 'pipeline check' (default: left out)")
    results.set_defaults(handler=results_command._results)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (default: one line)")
    for command in commands.choices.values():  # also accepted after the command's name
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an error (default: one line)")
    return parser

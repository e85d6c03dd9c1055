"""Provenance: what made a feature store, a model and a results file.

The package version and git commit (:func:`code_version`), the device and software stack
(:func:`hardware`), and what the feature store's own ``extraction.json`` says about the models,
weights and frames behind its features (:func:`extractor_provenance`). ``extract``, ``train`` and
``evaluate`` record these beside what they write, so a number in chapter 9 can be traced back.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

from pcmci_edu import __version__


def code_version() -> dict[str, Any]:
    """``pcmci_edu.__version__`` and, when the package runs from a git checkout that tracks it, the
    commit and whether the checkout differs from it (a pip-installed copy records no commit, even
    inside another repository's folder)."""
    version: dict[str, Any] = {"pcmci_edu": __version__, "git_commit": None, "git_dirty": None}
    here = Path(__file__).resolve().parent

    def git(*command: str) -> str:
        return subprocess.run(["git", *command], cwd=here, capture_output=True, text=True, timeout=10,
                              check=True).stdout

    try:
        git("ls-files", "--error-unmatch", Path(__file__).name)  # fails unless this file is tracked here
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
        version.update(git_commit=commit, git_dirty=dirty)
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def hardware() -> dict[str, Any]:
    """The device, the number of GPUs, and the versions of the stack."""
    import torch

    from pcmci_edu.system import environment_report

    report: dict[str, Any] = dict(environment_report())
    report["cuda_devices"] = torch.cuda.device_count()
    report["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
    return report


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _json_safe(value: Any) -> Any:
    """NaN (no activities, e.g. Charades' accuracy) becomes null in the JSON file."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def _read_extraction_record(store_dir: Path) -> dict | None:
    """What ``extract`` recorded about the features (model, frames, source), if anything."""
    path = store_dir / "extraction.json"
    return json.loads(path.read_text()) if path.is_file() else None


FEATURE_DEFINING = ("model_name", "pretrained", "num_frames", "sampling", "image_size", "text_template")
"""Extraction settings that change the features (a store holds one combination)."""


def extractor_provenance(record: dict | None) -> dict | None:
    """What made the features, from the store's own ``extraction.json`` (``None`` without one)."""
    if record is None:
        return None
    settings = record.get("config", {})
    return {"source": record.get("source"), "created": record.get("created"),
            "extracted_with": record.get("code_version"),
            **{name: settings.get(name) for name in FEATURE_DEFINING},
            # what made the frames and the label texts (they differ for imported published features)
            "frames": record.get("frames"), "texts": record.get("texts"),
            "normalization": record.get("normalization")}


def _weights_sha256(pretrained: str | None) -> str | None:
    """The sha256 of a local weights file (None for an open_clip tag or random weights)."""
    from pcmci_edu.data.download import sha256sum

    return sha256sum(pretrained) if pretrained and Path(pretrained).is_file() else None


def _text_provenance(extraction) -> dict:
    """Which text tower encoded the label texts, with which weights and template."""
    return {"model_name": extraction.model_name, "pretrained": extraction.pretrained,
            "weights_sha256": _weights_sha256(extraction.pretrained), "text_template": extraction.text_template}

"""What this machine offers: the compute device and the versions of the stack."""

from __future__ import annotations

import importlib.metadata
import platform

import torch

STACK: tuple[str, ...] = (
    "pcmci_edu", "torch", "numpy", "pot", "dowhy", "networkx", "scikit-learn",
    "open_clip_torch", "av", "matplotlib", "ipywidgets", "jupyter-book",
)


def default_device() -> torch.device:
    """CUDA when a GPU is visible, else the CPU.

    >>> default_device().type in {"cuda", "cpu"}
    True
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or ``None`` when it is absent."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_report() -> dict[str, str]:
    """Python, platform, device and the versions of the packages the book uses."""
    device = default_device()
    report = {"python": platform.python_version(), "platform": platform.platform()}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        report["device"] = f"cuda: {properties.name}, {properties.total_memory / 2**30:.0f} GiB"
    else:
        report["device"] = "cpu (no GPU visible: the smoke and book profiles run here; full runs want a GPU)"
    for name in STACK:
        report[name] = package_version(name) or "not installed"
    return report

"""Shared fixtures: the real annotation files, when PCMCI_DATA_ROOT points at them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder of real annotation files (``$PCMCI_DATA_ROOT``); skip when absent."""
    value = os.environ.get("PCMCI_DATA_ROOT", "")
    if not value:
        pytest.skip("PCMCI_DATA_ROOT is not set: real annotation files are not available")
    root = Path(value)
    if not root.is_dir():
        pytest.skip(f"PCMCI_DATA_ROOT={value} is not a folder")
    return root

"""The run profile every notebook reads: ``smoke``, ``book`` or ``full``.

A notebook declares ``PROFILE = None`` in a cell tagged ``parameters`` (papermill can
override it) and then calls :func:`resolve_profile`. ``None`` falls back to the
environment variable ``PCMCI_PROFILE`` and then to ``"book"``.
"""

from __future__ import annotations

import os
from typing import TypeVar

PROFILES: tuple[str, ...] = ("smoke", "book", "full")
"""smoke: seconds, for tests and CI; book: what the built book shows, on a CPU;
full: the real datasets on a GPU."""

DEFAULT_PROFILE = "book"
ENV_VARIABLE = "PCMCI_PROFILE"

T = TypeVar("T")


def resolve_profile(profile: str | None = None) -> str:
    """Return the profile to run: the argument, else ``$PCMCI_PROFILE``, else ``"book"``.

    >>> resolve_profile("smoke")
    'smoke'
    >>> resolve_profile(" Full ")
    'full'
    """
    source = "the PROFILE parameter"
    if profile is None or str(profile).strip() == "":
        profile = os.environ.get(ENV_VARIABLE, "").strip() or DEFAULT_PROFILE
        source = f"${ENV_VARIABLE}" if os.environ.get(ENV_VARIABLE, "").strip() else "the default"
    name = str(profile).strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {profile!r} (from {source}): expected one of {', '.join(PROFILES)}"
        )
    return name


def pick(profile: str, *, smoke: T, book: T, full: T) -> T:
    """Choose a value by profile, so a notebook states its three sizes in one line.

    >>> pick("book", smoke=2, book=20, full=200)
    20
    """
    return {"smoke": smoke, "book": book, "full": full}[resolve_profile(profile)]

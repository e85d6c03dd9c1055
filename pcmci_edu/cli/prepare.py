"""``pcmci-edu info`` and ``pcmci-edu prepare``: the set-up commands.

``info`` prints the compute device and the versions of the stack; ``prepare`` fetches a
dataset's files from their official sources (or copies and verifies them from a folder) through
:func:`pcmci_edu.data.download.prepare`, and stops before downloading anything unless the licence
is accepted.
"""

from __future__ import annotations

import argparse
import sys


def _info(_: argparse.Namespace) -> int:
    from pcmci_edu.system import environment_report

    for name, value in environment_report().items():
        print(f"{name}: {value}")
    return 0


def _prepare(arguments: argparse.Namespace) -> int:
    from pcmci_edu.data.download import LicenceNotAccepted, prepare

    try:
        report = prepare(arguments.dataset, arguments.root, components=arguments.include,
                         accept_licence=arguments.accept_licence, mirror=arguments.mirror,
                         local_dir=arguments.from_dir, verify=not arguments.no_verify,
                         keep_archives=arguments.keep_archives)
    except LicenceNotAccepted as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0

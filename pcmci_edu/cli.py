"""The command line: ``pcmci-edu <command>``."""

from __future__ import annotations

import argparse
import sys

from pcmci_edu import __version__


def _info(_: argparse.Namespace) -> int:
    from pcmci_edu.system import environment_report

    for name, value in environment_report().items():
        print(f"{name}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per step of the pipeline."""
    parser = argparse.ArgumentParser(prog="pcmci-edu", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pcmci_edu {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print the device and the versions of the stack")
    info.set_defaults(handler=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pcmci-edu`` console script."""
    arguments = build_parser().parse_args(argv)
    return arguments.handler(arguments)


if __name__ == "__main__":
    sys.exit(main())

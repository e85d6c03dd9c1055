"""The ``pcmci-edu`` entry point: parse, run the sub-command, report an error in one line.

An error is one line on stderr naming the file or field and what to do, with exit code 1 (130
when interrupted, so the same command continues where it stopped); ``--debug`` raises it with
its traceback instead.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from pcmci_edu.cli.parser import build_parser


def error_message(error: BaseException) -> str:
    """One line for an error: an operating-system error as ``file: reason (what to do)``; an error
    this package did not expect with its kind and a pointer to ``--debug``."""
    if isinstance(error, OSError) and error.errno is not None and (error.filename is not None or error.strerror):
        hints = {PermissionError: "choose a writable folder (--root, --out) or fix its permissions",
                 NotADirectoryError: "a file stands where a folder is expected",
                 IsADirectoryError: "a folder stands where a file is expected",
                 FileExistsError: "a file stands where a folder is expected"}
        hint = next((text for kind, text in hints.items() if isinstance(error, kind)), None)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "the disk is full: free space or choose a folder on another disk (--root, --out)"
        elif error.errno == errno.EROFS:
            hint = "a read-only file system: choose a writable folder (--root, --out)"
        where = f"{error.filename}: " if error.filename is not None else "writing a file: "
        return where + f"{error.strerror}" + (f" ({hint})" if hint else "")
    if isinstance(error, (ValueError, OSError, RuntimeError)):
        return str(error)
    return f"{type(error).__name__}: {error} (unexpected; rerun with --debug for the traceback and report it)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pcmci-edu`` console script. An error is one line on stderr and exit
    code 1 (130 when interrupted); ``--debug`` raises it with its traceback instead."""
    arguments = build_parser().parse_args(argv)
    try:
        root = getattr(arguments, "root", None)
        if root is not None and Path(root).exists() and not Path(root).is_dir():
            raise NotADirectoryError(f"{root}: --root is not a folder (give the data folder that holds <dataset>/)")
        if getattr(arguments, "device", None) is not None:
            from pcmci_edu.cli.config import check_device

            check_device(arguments.device)
        return arguments.handler(arguments)
    except KeyboardInterrupt as stopped:  # Ctrl-C, or SIGTERM during `train` (exit code 143)
        if arguments.debug:
            raise
        print(str(stopped) or "interrupted: run the same command again to continue where it stopped", file=sys.stderr)
        return getattr(stopped, "exit_code", 130)
    except Exception as error:
        if arguments.debug:
            raise
        rank = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
        where = f" (torchrun rank {rank[0]} of {rank[1]})" if rank[1] > 1 else ""
        print(f"error{where}: {error_message(error)}", file=sys.stderr)
        return 1

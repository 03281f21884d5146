"""What the project's scripts share (`training/train.py`, `training/evaluate.py`, `python -m mogent_hf.data`;
the `mogent-hf` command itself lives in `cli.py`): a user's mistake ends in one `error: …` line and exit status 2
(as argparse does) while bugs keep their traceback, logging set up as diffusers' example scripts do, a help
formatter that shows every default, a graceful stop on Ctrl-C / SIGTERM, and the applications' thread count.

The library itself never changes the process's threads: the applications (`train.py`, `evaluate.py`, `mogent-hf`,
the demo) do, through `--num_threads` (docs/benchmarks.md has the measurements behind the default)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator

USER_ERRORS = (ValueError, OSError, ImportError)  # bad values, missing files or repositories, missing extras


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line (`prog: error: message` and a pointer to --help, exit status 2)
    instead of a usage block that, for a script with sixty options, hides the message."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the module docstring's layout and shows each option's default."""


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Marks the errors raised inside the block as the user's (bad flags, missing files, unknown repos), so that
    `run_command` prints them as `error: …` instead of a traceback. The exception itself is re-raised unchanged,
    so callers of the script's `main()` (tests, notebooks) see the usual types."""
    try:
        yield
    except USER_ERRORS as error:
        error.user_error = True
        raise


def run_command(main: Callable[[], object], prog: str | None = None) -> None:
    """Runs a script's `main()`: an error marked by `user_errors` prints `prog: error: message` on stderr and exits
    with status 2; Ctrl-C exits with 130 without a traceback; every other exception keeps its traceback."""
    try:
        main()
    except KeyboardInterrupt:  # before or after the training loop, which saves and exits on its own
        print(f"{prog or sys.argv[0]}: interrupted", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None
    except Exception as error:
        if not getattr(error, "user_error", False):
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"{prog or sys.argv[0]}: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None


def configure_logging(is_main_process: bool = True) -> None:
    """INFO on the console from this package, transformers and diffusers warnings, as diffusers' example scripts
    set it up (other processes of a distributed run log errors only)."""
    import diffusers
    import transformers

    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%m/%d/%Y %H:%M:%S", level=logging.INFO
    )
    if is_main_process:
        transformers.utils.logging.set_verbosity_warning()
        diffusers.utils.logging.set_verbosity_warning()
    else:
        transformers.utils.logging.set_verbosity_error()
        diffusers.utils.logging.set_verbosity_error()


class StopRequest:
    """Catches SIGINT (Ctrl-C) and SIGTERM while active, so that a training loop can finish its step, save and exit.

    The first signal sets `signal_number`; a second Ctrl-C raises KeyboardInterrupt at once. Used as a context manager
    around the loop; the previous handlers come back on exit. Outside the main thread it does nothing.
    """

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self._previous: dict[int, object] = {}

    def __bool__(self) -> bool:
        return self.signal_number is not None

    def _handle(self, signal_number: int, frame) -> None:
        if self.signal_number is not None and signal_number == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_number = signal_number
        print(
            f"\n{signal.Signals(signal_number).name}: stopping after this step and saving a checkpoint "
            "(Ctrl-C again to stop at once)",
            file=sys.stderr,
        )

    def __enter__(self) -> StopRequest:
        with contextlib.suppress(ValueError):  # not the main thread: signals stay as they were
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    @property
    def exit_status(self) -> int:
        """128 + the signal's number, as a shell reports a process ended by it (130 for Ctrl-C)."""
        return 128 + (self.signal_number or 0)


def cpu_times(path: str = "/proc/stat") -> dict[int, tuple[int, int]]:
    """Linux's per-CPU counters since boot: CPU number → (idle + iowait jiffies, all jiffies)."""
    times = {}
    for line in open(path).read().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            counts = [int(field) for field in fields[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (counts[3] + counts[4], sum(counts))
    return times


def idle_cores(interval: float = 0.25) -> int:
    """The CPU cores this process may run on that other processes leave idle, measured over `interval` seconds from
    /proc/stat (rounded; at least 1). Where /proc/stat is missing, the one-minute load average stands in (it lags:
    a job that ended a minute ago still counts)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    try:
        before = cpu_times()
        time.sleep(interval)
        after = cpu_times()
        idle = sum((after[c][0] - before[c][0]) / max(after[c][1] - before[c][1], 1) for c in cores if c in after)
    except (OSError, KeyError, ValueError):
        try:
            idle = len(cores) - os.getloadavg()[0]
        except OSError:  # no load average either
            return len(cores)
    return max(1, min(len(cores), round(idle)))


def resolve_num_threads(requested: str | int) -> int:
    """`--num_threads` → a thread count: a positive int as given; "auto" → `OMP_NUM_THREADS` when set (as
    `accelerate launch` sets it), else `idle_cores()`: all cores on a quiet machine, one when a neighbour keeps
    the others busy (two threads then wait on each other at every op: docs/benchmarks.md)."""
    if requested == "auto":
        from_environment = os.environ.get("OMP_NUM_THREADS", "")
        return int(from_environment) if from_environment.isdigit() and int(from_environment) > 0 else idle_cores()
    return int(requested)


def num_threads_value(text: str) -> str | int:
    """argparse type of `--num_threads`: "auto" or an int >= 1."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be 'auto' or an integer >= 1, got {text!r}")
    return int(text)


def add_num_threads_argument(parser: argparse.ArgumentParser, flag: str = "--num_threads") -> None:
    parser.add_argument(flag, type=num_threads_value, default="auto", help="torch CPU threads: an integer, or "
                        "'auto' (OMP_NUM_THREADS if set, else the cores that other processes leave idle)")  # fmt: skip


def set_num_threads(requested: str | int) -> int:
    """Sets torch's intra-op threads from a `--num_threads` value; returns the count."""
    import torch

    count = resolve_num_threads(requested)
    torch.set_num_threads(count)
    return count

"""Exceptions that the CLI turns into one line on stderr and an exit code."""

from __future__ import annotations

from pathlib import Path


class NeuralMDError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1


class InputError(NeuralMDError):
    """Bad user input: a missing, empty, corrupt or inconsistent file, or a bad option.

    Args:
        path: the file (or option) at fault; ``None`` when no single file is to blame.
        problem: what is wrong, one short sentence without a trailing period.
    """

    exit_code = 2

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.path, self.problem))


class ConfigError(InputError):
    """An invalid configuration (unknown key, wrong type, out of range)."""


class DivergenceError(NeuralMDError):
    """A rollout stopped by the divergence guard (exit code 3)."""

    exit_code = 3

    def __init__(self, snapshot: int, reason: str):
        self.snapshot = snapshot
        self.reason = reason
        super().__init__(f"rollout diverged at snapshot {snapshot}: {reason}")

    def __reduce__(self):
        return (type(self), (self.snapshot, self.reason))

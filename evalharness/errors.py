"""The one user-facing exception type and the exit codes."""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_GATE_INCONCLUSIVE = 3  # a [gate.trust] gate that cannot decide: the judge or the corrected deltas lack evidence
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM, as a shell reports a SIGINT


class EvalHarnessError(Exception):
    """An error the user can fix; shown as one line without a traceback, exit code 2."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def csv_error(path: object, exc: Exception, line: int | None = None) -> EvalHarnessError:
    """One line for a CSV file the csv module refused: a field over its size limit (often a quote that is never
    closed, which makes the rest of the file one field) or a malformed row."""
    where = f"{path}:{line}" if line else f"{path}"
    return EvalHarnessError(f"{where}: not a readable CSV ({str(exc).splitlines()[0]}); check for a quote that is never "
                            "closed, or split the oversized field")


class JudgeOutputError(Exception):
    """The judge answered, but not with a usable label (malformed or refused).

    Calls that were answered were paid for: their tokens and cost ride on the exception, so the run's cost and the
    --max-cost budget count them although no judgment is stored."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0


class NoLabel(JudgeOutputError):
    """An answer that is not a label and that a repair turn would not make one: `reason` is `truncated`
    (the output token limit), `refused`, `empty` or `content filtered`. Listed as a failure with that reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class BudgetExceeded(Exception):
    """Raised inside the judging loop when the --max-cost budget is spent."""


_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a secret so that `redact` removes it from any text shown or stored."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """Replace every registered secret in text with '***'."""
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text

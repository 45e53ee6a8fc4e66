"""What a check returns (`CheckResult`) and what `preflight` returns (`Report`)."""

from __future__ import annotations

import dataclasses
import html

_MARKS = {"pass": ("PASS", "✅", "#e8f5e9"), "fail": ("FAIL", "❌", "#ffebee"),
          "inconclusive": ("????", "❔", "#fff8e1")}


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check: "pass", "fail" or "inconclusive" (it could not decide), in `status`.

    `message` says, on failure, what is wrong and the likely cause; when inconclusive,
    why the check could not decide and what would decide it.
    """

    name: str
    status: str  # one of "pass", "fail", "inconclusive"
    value: str  # what was measured
    expected: str  # what a healthy setup gives
    message: str

    def __post_init__(self):
        if self.status not in _MARKS:
            raise ValueError(f"CheckResult {self.name!r}: status must be one of "
                             f"{', '.join(_MARKS)}, got {self.status!r} (from a bool: "
                             "checks.make_result(name, passed, value, expected, message)).")

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    @property
    def inconclusive(self) -> bool:
        return self.status == "inconclusive"

    def __str__(self) -> str:
        text = f"{_MARKS[self.status][0]}  {self.name:<26} {self.value}  (expected {self.expected})"
        return text if self.passed else f"{text}\n      -> {self.message}"


def make_result(name: str, passed: bool, value: str, expected: str, message: str) -> CheckResult:
    """A pass or a fail; the message is kept only on failure."""
    return CheckResult(name, "pass" if passed else "fail", value, expected, "" if passed else message)


def inconclusive(name: str, value: str, expected: str, message: str) -> CheckResult:
    """A check that could not decide: `message` says why and what would decide it."""
    return CheckResult(name, "inconclusive", value, expected, message)


@dataclasses.dataclass(frozen=True)
class Report:
    """All check results; renders as a table in a notebook and as text in a terminal.

    `passed` is False only when a check failed: an inconclusive check does not fail it.
    """

    results: tuple[CheckResult, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.failed]

    @property
    def inconclusive(self) -> list[CheckResult]:
        return [r for r in self.results if r.inconclusive]

    def __getitem__(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"No check {name!r}; have {[r.name for r in self.results]}.")

    def _headline(self) -> str:
        parts = [f"{len(self.failures)} FAILED" if self.failures else "PASSED"]
        if self.inconclusive:
            parts.append(f"{len(self.inconclusive)} inconclusive")
        return ", ".join(parts)

    def __str__(self) -> str:
        head = f"preflight: {self._headline()} ({len(self.results)} checks, {self.seconds:.1f} s)"
        return "\n".join([head, *map(str, self.results)])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr style='background:{_MARKS[r.status][2]}'><td>{_MARKS[r.status][1]}</td>"
            f"<td>{html.escape(r.name)}</td><td>{html.escape(r.value)}</td>"
            f"<td>{html.escape(r.expected)}</td><td>{html.escape(r.message)}</td></tr>"
            for r in self.results)
        return (f"<p><b>preflight: {self._headline()}</b> ({self.seconds:.1f} s)</p><table><tr>"
                "<th></th><th>check</th><th>measured</th><th>expected</th>"
                f"<th>likely cause / what would decide it</th></tr>{rows}</table>")

"""Progress bars for the loops a learner waits on: widgets in Jupyter, text elsewhere.

`tqdm.auto` picks a widget bar inside a notebook kernel and a text bar in a terminal or
a headless run; `mininterval` keeps a text bar to one line every few seconds, so logs
of headless runs (CI, `make course`) stay short.
"""

from __future__ import annotations

from tqdm.auto import tqdm

MIN_INTERVAL = 5.0  # seconds between refreshes of a bar


def bar(iterable=None, *, desc: str, total: int | None = None, enabled: bool = True,
        unit: str = "it"):
    """A tqdm bar over `iterable` (or a manual one with `total`); silent when not `enabled`."""
    return tqdm(iterable, desc=desc, total=total, disable=not enabled, unit=unit,
                mininterval=MIN_INTERVAL, dynamic_ncols=True)

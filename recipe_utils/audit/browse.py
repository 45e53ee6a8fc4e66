"""An ipywidgets image browser over ImageQuery objects; optional, headless-safe.

`browse_page` is the pure function behind the widget: the notebook calls it once so
the same grid renders without widgets (CI, a static viewer), then `browser` wraps it.
"""

from __future__ import annotations

import io

from .query import ImageQuery

ALL = "(all)"
NONE = "(none)"


def browse_page(queries: dict[str, ImageQuery], *, split: str, label: str = ALL,
                sort: str = NONE, descending: bool = True, page: int = 0,
                per_page: int = 50) -> ImageQuery:
    """The images one browser page shows: a split, a class (or all), a sort, a page."""
    if split not in queries:
        raise KeyError(f"No split {split!r}; have {list(queries)}.")
    query = queries[split]
    if label != ALL:
        query = query.where(label=label)
    if sort != NONE:
        query = query.sort_by(sort, descending=descending)
    return query.page(page, per_page=per_page)


def browser(queries: dict[str, ImageQuery], *, per_page: int = 50, ncols: int = 10):
    """An ipywidgets browser (split, class, sort, order, page), or None without ipywidgets."""
    try:
        import ipywidgets as widgets
        import matplotlib.pyplot as plt
        from IPython.display import Image, display
    except ImportError:
        print("ipywidgets is not installed: use browse_page(...).show() instead.")
        return None
    first = next(iter(queries.values()))
    scores = sorted(set().union(*(q.scores for q in queries.values())))
    split = widgets.Dropdown(options=list(queries), description="split")
    label = widgets.Dropdown(options=[ALL, *first.classes], description="class")
    sort = widgets.Dropdown(options=[NONE, *scores], description="sort by")
    descending = widgets.Checkbox(value=True, description="highest first")
    page = widgets.BoundedIntText(value=0, min=0, max=10**6, description="page")
    out = widgets.Output()

    def render(*_):
        with out:
            out.clear_output(wait=True)
            shown = browse_page(queries, split=split.value, label=label.value, sort=sort.value,
                                descending=descending.value, page=page.value, per_page=per_page)
            if len(shown) == 0:
                print("No images on this page.")
                return
            ax = shown.show(n=per_page, ncols=ncols,
                            title=f"{split.value} · {label.value} · page {page.value}")
            # PNG bytes, not the Figure: a Figure displays as an image only under the inline
            # backend, and a kernel started with MPLBACKEND=Agg (CI, scripts) would show text
            buf = io.BytesIO()
            ax.figure.savefig(buf, format="png", bbox_inches="tight")
            plt.close(ax.figure)
            display(Image(data=buf.getvalue(), format="png"))

    for w in (split, label, sort, descending, page):
        w.observe(render, names="value")
    render()
    return widgets.VBox([widgets.HBox([split, label, sort]), widgets.HBox([descending, page]), out])

"""Long loops show a text bar in headless runs, and nothing when asked not to."""

import numpy as np

from recipe_utils import audit, search


def test_duplicate_search_and_trials_show_a_bar(capsys, tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    audit.find_duplicates(images, block=16)
    search.run_search(lambda c: c["x"], [{"x": 1}, {"x": 2}], results=tmp_path / "r.jsonl")
    err = capsys.readouterr().err
    assert "duplicates 40 images" in err and "3/3" in err  # 40 images in blocks of 16
    assert "search trials" in err and "2/2" in err
    audit.find_duplicates(images, block=16, progress=False)
    search.run_search(lambda c: c["x"], [{"x": 3}], results=tmp_path / "s.jsonl", progress=False)
    assert capsys.readouterr().err == ""

"""Learning-rate schedules as functions of the step."""

import pytest

from recipe_utils import schedules


def test_shapes():
    total = 100
    assert [schedules.constant(s, total) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    assert schedules.constant(0, total, warmup=0.1) == pytest.approx(0.1)
    assert schedules.linear(99, total, final=0.0) == pytest.approx(0.0)
    assert schedules.linear(0, total) == 1.0
    cycle = [schedules.one_cycle(s, total, warmup=0.2) for s in range(total)]
    assert max(cycle) == pytest.approx(1.0) and cycle.index(max(cycle)) == 19
    assert cycle[-1] == pytest.approx(0.0, abs=1e-9) and cycle[0] < 0.1
    assert schedules.step_decay(25, total, every=10, factor=0.5) == 0.25


def test_unknown_schedule():
    with pytest.raises(ValueError, match="Unknown schedule 'cosine'.*one_cycle"):
        schedules.get_schedule("cosine")

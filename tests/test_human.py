"""The human baseline: scoring answers by hand-computed values, and the game's flow."""

import numpy as np
import pytest

from recipe_utils import human


def test_score_answers_against_hand_counts():
    labels = [0, 0, 1, 2, 2, 2]
    answers = [0, 1, 1, 2, 0, 2]  # right, wrong (0->1), right, right, wrong (2->0), right
    accuracy, confusion = human.score_answers(answers, labels, num_classes=3)
    assert accuracy == pytest.approx(4 / 6)
    expected = np.array([[1, 1, 0],   # true 0: once 0, once 1
                         [0, 1, 0],   # true 1: once 1
                         [1, 0, 2]])  # true 2: once 0, twice 2
    np.testing.assert_array_equal(confusion, expected)
    assert confusion.sum() == len(labels) and np.trace(confusion) == 4


def test_score_answers_refuses_mismatched_or_empty_answers():
    with pytest.raises(ValueError, match="as many answers as labels"):
        human.score_answers([0, 1], [0, 1, 2], num_classes=3)
    with pytest.raises(ValueError, match="as many answers as labels"):
        human.score_answers([], [], num_classes=3)


def test_labeling_game_scores_the_clicks_in_order():
    pytest.importorskip("ipywidgets")
    pytest.importorskip("PIL")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    labels = np.array([1, 0, 1])
    classes = ["cat", "dog"]
    done = []
    game = human.labeling_game(images, labels, classes, on_done=lambda *a: done.append(a))
    buttons = {b.description: b for box in game.children[2:] for b in box.children}
    picture = game.children[0].value
    for name in ("dog", "dog", "cat"):  # right, wrong, wrong
        assert not done
        buttons[name].click()
        assert game.children[0].value != picture or done  # the next image is shown
        picture = game.children[0].value
    accuracy, confusion, answers = done[0]
    assert answers == [1, 1, 0] and accuracy == pytest.approx(1 / 3)
    np.testing.assert_array_equal(confusion, [[0, 1], [1, 1]])
    assert "33%" in game.children[1].value


def test_game_status_shows_what_on_done_returns():
    pytest.importorskip("ipywidgets")
    pytest.importorskip("PIL")
    images = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    game = human.labeling_game(images, np.array([0]), ["cat", "dog"],
                               on_done=lambda acc, confusion, answers: f"scored {acc:.0%}")
    game.children[2].children[0].click()
    assert game.children[1].value == "scored 100%"


def test_compare_with_model_intervals_and_verdict():
    # 19/20 against 4/20: Wilson intervals (75%-99%) and (8%-42%) do not overlap
    line = human.compare_with_model(19, 4, 20)
    assert "you 19/20 (76% to 99%)" in line and "the model 4/20 (8% to 42%)" in line
    assert line.endswith("you are clearly better")
    assert human.compare_with_model(4, 19, 20).endswith("the model is clearly better")
    assert "too few images" in human.compare_with_model(12, 10, 20)
    with pytest.raises(ValueError):
        human.compare_with_model(21, 4, 20)

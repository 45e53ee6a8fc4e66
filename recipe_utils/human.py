"""The human baseline: label images yourself, one at a time, and compare with the model.

Karpathy labelled CIFAR-10 test images by hand in 2011 and measured about 94%
accuracy. `labeling_game` is an ipywidgets game around the pure `score_answers`.
"""

from __future__ import annotations

import math

import numpy as np

PUBLISHED_HUMAN_ACCURACY = 0.94  # Karpathy (2011), on CIFAR-10 test images


def score_answers(answers, labels, *, num_classes: int) -> tuple[float, np.ndarray]:
    """Accuracy and confusion (num_classes, num_classes) [true, answered] of answers (N,)."""
    answers, labels = np.asarray(answers, np.int64), np.asarray(labels, np.int64)
    if answers.shape != labels.shape or answers.size == 0:
        raise ValueError(f"need as many answers as labels, got {answers.shape} and {labels.shape}.")
    confusion = np.bincount(labels * num_classes + answers, minlength=num_classes ** 2)
    return float((answers == labels).mean()), confusion.reshape(num_classes, num_classes)


def binomial_interval(successes: int, trials: int, *, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95% by default) of a proportion: (low, high) in [0, 1].

    Right where a normal approximation is not: few trials (a 20-image game) or a rate
    near 0 or 1.
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}.")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def compare_with_model(human_right: int, model_right: int, trials: int) -> str:
    """One line: the human's and the model's accuracy on the same `trials` images, each
    with its 95% Wilson interval, and whether the intervals overlap."""
    (h_low, h_high), (m_low, m_high) = (binomial_interval(k, trials) for k in (human_right, model_right))
    if h_low > m_high:
        verdict = "you are clearly better"
    elif m_low > h_high:
        verdict = "the model is clearly better"
    else:
        verdict = "the intervals overlap: too few images to tell"
    return (f"you {human_right}/{trials} ({h_low:.0%} to {h_high:.0%}), the model {model_right}/{trials} "
            f"({m_low:.0%} to {m_high:.0%}): {verdict}")


def labeling_game(images, labels, classes, *, on_done=None):
    """A widget showing one image at a time with a button per class; None without widgets.

    on_done(accuracy, confusion, answers) is called after the last image; text it returns
    replaces the game's status line (print in a widget callback goes to the log, not the page).
    """
    try:
        import io

        import ipywidgets as widgets
        from PIL import Image
    except ImportError:
        print("ipywidgets is not installed: the game is skipped.")
        return None
    answers: list[int] = []
    picture = widgets.Image(format="png", width=192, height=192)
    status = widgets.Label()

    def show(k):
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(images[k])).resize((128, 128), Image.NEAREST).save(buffer, "PNG")
        picture.value = buffer.getvalue()
        status.value = f"image {k + 1} of {len(images)}"

    def answer(button):
        answers.append(classes.index(button.description))
        if len(answers) < len(images):
            show(len(answers))
            return
        accuracy, confusion = score_answers(answers, labels[:len(answers)], num_classes=len(classes))
        status.value = f"done: your accuracy {accuracy:.0%}"
        if on_done is not None:
            message = on_done(accuracy, confusion, list(answers))
            if isinstance(message, str):
                status.value = message

    buttons = [widgets.Button(description=name) for name in classes]
    for b in buttons:
        b.on_click(answer)
    show(0)
    return widgets.VBox([picture, status, widgets.HBox(buttons[:5]), widgets.HBox(buttons[5:])])

"""recipe_utils: the tested companion package of the nn-recipe course.

The entry points (ARCHITECTURE.md): `start` a notebook, `load_splits`, describe a run
as a `RunSpec`, `train_spec` it and `measure` it, or compare specs over paired seeds
in a `Study`; `fit` is the loop under them, for any model and loader.
"""

from .checks import Report, preflight
from .cifar import CIFAR10, DataError, load_cifar10
from .claims import Claim, claim
from .course import Course, record, start
from .data import Split, Splits, channel_stats, load_splits, make_splits
from .loader import Augment, DeviceLoader
from .profile import Profile, get_profile, seed_everything, select_device
from .sizes import Run, run_sizes
from .spec import RunSpec, build_model, measure, train_spec
from .study import Study, format_table, paired_effect, seeds_for
from .train import History, TrainConfig, evaluate, fit, predict
from .version import VERSION

__version__ = VERSION

__all__ = [
    "Claim", "claim", "CIFAR10", "DataError", "load_cifar10", "Course", "record", "start",
    "Split", "Splits", "channel_stats", "load_splits", "make_splits", "Augment", "DeviceLoader",
    "Profile", "get_profile", "seed_everything", "select_device", "Run", "run_sizes",
    "RunSpec", "build_model", "measure", "train_spec", "Study", "format_table",
    "paired_effect", "seeds_for", "History", "TrainConfig", "evaluate", "fit", "predict",
    "preflight", "Report",
]

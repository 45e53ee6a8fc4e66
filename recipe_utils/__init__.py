"""recipe_utils: the tested companion package of the nn-recipe course."""

from .checks import Report, preflight
from .cifar import CIFAR10, DataError, load_cifar10
from .claims import Claim, claim
from .course import Course, record, start
from .data import Splits, channel_stats, load_splits, make_splits
from .loader import Augment, DeviceLoader, make_loaders
from .profile import Profile, get_profile, seed_everything, select_device
from .sizes import Run, run_sizes
from .train import History, TrainConfig, evaluate, fit, predict
from .version import VERSION

__version__ = VERSION

__all__ = [
    "Claim", "claim", "CIFAR10", "DataError", "load_cifar10", "Course", "record", "start", "Splits",
    "channel_stats", "load_splits", "make_splits", "Augment", "DeviceLoader", "make_loaders",
    "Profile", "get_profile", "seed_everything", "select_device", "Run", "run_sizes", "History", "TrainConfig",
    "evaluate", "fit", "predict", "preflight", "Report",
]

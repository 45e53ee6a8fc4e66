"""Audit an image classification dataset: duplicates, outliers, label issues, statistics.

One module per task; every function takes plain arrays (uint8 images (N, H, W, 3),
int labels (N,)) and returns arrays, so the tools work on any image set, not only
CIFAR-10.
"""

from .browse import browse_page, browser
from .duplicates import DEFAULT_THRESHOLD, DuplicatePairs, duplicate_groups, find_duplicates
from .labels import confident_joint_flags, find_label_issues, label_quality, precision_at_k
from .outliers import OutlierScores, outlier_scores, robust_z
from .query import ImageQuery
from .reference import fetch_reference, load_reference, reference_dir
from .stats import class_balance, image_stats, per_class

__all__ = [
    "browse_page", "browser", "DEFAULT_THRESHOLD", "DuplicatePairs", "duplicate_groups",
    "find_duplicates", "confident_joint_flags", "find_label_issues", "label_quality",
    "precision_at_k", "OutlierScores", "outlier_scores", "robust_z", "ImageQuery",
    "fetch_reference", "load_reference", "reference_dir", "class_balance", "image_stats", "per_class",
]

"""The analysis window every audio component shares: its length is searched around the
median clip duration of the labelled data."""

from __future__ import annotations

from automl.data.profile import DataProfile
from automl.space.domains import FloatDomain


def clip_domain(profile: DataProfile) -> FloatDomain:
    median = float(profile.extras.get("duration_median_s", 1.0))
    return FloatDomain(round(max(0.25, 0.5 * median), 3), round(min(10.0, max(0.5, 2 * median)), 3))


def default_clip_seconds(profile: DataProfile) -> float:
    """The median clip length. (On fsdd-few a window holding 90% of clips whole scored lower,
    0.69 vs 0.78 CV accuracy with MFCC + logreg: centred crops align the words better.)"""
    d = clip_domain(profile)
    return float(min(d.high, max(d.low, profile.extras.get("duration_median_s", 1.0))))

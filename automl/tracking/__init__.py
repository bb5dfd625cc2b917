from automl.tracking.base import NullTracker, Tracker, TrialRecord

__all__ = ["NullTracker", "Tracker", "TrialRecord"]

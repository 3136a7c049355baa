"""The restaurant approval demo (spec §11.1): validate, park for the restaurant, finalize."""

from demos.restaurant_approval.pipeline import pipeline

__all__ = ["pipeline"]

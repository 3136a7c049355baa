"""The self-hosted recipe's configuration, shared by the tests that load it.

The blocks live with the HA demos that run them (:mod:`demos.restaurant_approval.ha.recipe`),
so a test and ``make demo-ha`` cannot drift apart.
"""

from demos.restaurant_approval.ha.recipe import RECIPE_MINIMUM, RECIPE_REST_WORKER

__all__ = ["RECIPE_MINIMUM", "RECIPE_REST_WORKER", "WORKER_SECRET_ENV"]

WORKER_SECRET_ENV = {"TPF_WORKER_SECRET": "recipe-worker-secret"}

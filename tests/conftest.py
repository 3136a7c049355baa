"""Fixtures shared by the whole suite."""

from tests.aws import aws_settings, moto_endpoint
from tests.serving import restaurant_server

__all__ = ["aws_settings", "moto_endpoint", "restaurant_server"]

"""Fixtures shared by the whole suite."""

from tests.aws import aws_settings, moto_endpoint

__all__ = ["aws_settings", "moto_endpoint"]

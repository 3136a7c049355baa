"""Await channels: how await requests are published and completions consumed (rest today)."""

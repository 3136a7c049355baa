"""The engine: the composition root (open/start/close), execution and await commands, long
polls, and the provider tables every technology is chosen from."""

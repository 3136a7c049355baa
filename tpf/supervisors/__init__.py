"""Supervisors: the coordinator's background passes (sweeper, lease keeper, dead letters, awaits,
work consumer, hosted workers' heartbeats), each an ``async def tick() -> int`` that tests drive
directly, scheduled in production by :mod:`tpf.supervisors.loop`."""

"""What pipeline authors write and ship: :class:`~tpf.authoring.pipeline.Pipeline`, its steps
and awaits, the contract derived from them, and the release build (code digest, descriptor).

Imports only :mod:`tpf.core`.
"""

"""The worker process (``tpf worker``): pipeline code served to coordinators over a protocol.

The second program of the coordinator/worker shape. It hosts pipeline code in local transition
workers behind a :class:`~tpf.transports.workers.remote.host.WorkerHost`, serves the chosen
protocol (REST or gRPC; SQS request/reply plugs in as a third server), checks every request's
signature with a nonce guard its replicas may share, exposes ``/q/health`` and ``/q/metrics``,
keeps its worker lifecycle records fresh through the coordinator's admin API and drains on
SIGTERM. Its own layer, above ``engine`` and below the ``coordinator`` facade: it composes the
transports, stores and supervisors as ``engine`` does for a coordinator, and uses nothing of a
coordinator's runtime.

- :mod:`tpf.worker.process`: :class:`~tpf.worker.process.WorkerProcess`, the composition root;
- :mod:`tpf.worker.servers`: the protocol servers, one entry per protocol;
- :mod:`tpf.worker.announce`: registration, heartbeats and drain over the admin API;
- :mod:`tpf.worker.observability`: the probes, the metrics and the counting verifier.
"""

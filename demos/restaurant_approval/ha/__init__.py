"""The recipe's HA reference in processes: a local AWS, one coordinator, REST workers.

``make demo-ha``, ``make demo-ha-incident`` and ``make demo-ha-recovery`` run the original's
container HA scripts without containers: moto on 127.0.0.1 stands in for LocalStack, ``tpf
serve`` for the coordinator container and ``tpf worker`` for the REST worker container.
"""

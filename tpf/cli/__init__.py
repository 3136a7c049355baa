"""The ``tpf`` command: one module per group of subcommands (:mod:`tpf.cli.main` builds the
parser)."""

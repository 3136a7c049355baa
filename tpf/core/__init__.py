"""The domain core: records, pure lifecycle decisions, interactions, ids, clock, errors, codecs.

Nothing here imports anything of ours above it (a test checks it), so every other layer can
build on it and its rules can be tested without I/O.
"""

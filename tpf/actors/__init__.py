"""The actor runtime, the typed actor messages and the execution and registry actors."""

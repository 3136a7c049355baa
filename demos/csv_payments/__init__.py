"""The csv-payments demo (spec §11.2): a CSV file streamed into per-record payment awaits."""

"""Data stages: ``python -m prepare_data.get`` (get_data) and ``python -m prepare_data``."""

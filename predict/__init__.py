"""Keyed batch predictions: ``python -m predict --input X --output Y --key ID``."""

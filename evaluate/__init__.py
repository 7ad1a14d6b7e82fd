"""evaluate stage: ``python -m evaluate`` scores the test split."""

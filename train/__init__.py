"""train stage: ``python -m train`` fits the model chosen by ``train.model``."""

"""train stage: ``python -m train`` fits the model chosen by ``train.model``."""

from common.runtime import pin_cpu_kernels

pin_cpu_kernels()  # before numpy or torch loads: see common/runtime.py

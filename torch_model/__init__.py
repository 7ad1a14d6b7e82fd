"""The PyTorch text classifier (``train.model: torch``), an optional part: its code, tests,
benchmarks and docs page (README.md) live in this folder, and it needs the ``torch`` extra.

It joins the core through its params section (``TorchParams``, imported and declared in
``common/params.py``), its entry in ``train/registry.py``'s ``MODELS`` and in
``train/model_store.py``'s ``KINDS``, and its block in ``params.yaml``. Each of those lines
ends in ``# optional part: torch_model``: delete them and this folder, run ``make schema``,
and the project works without torch (tests/test_optional_parts.py does it on a copy).
``params``, ``training`` and ``store`` import torch only inside functions, so the
scikit-learn models never load it.
"""

"""The Spark engine of prepare_data (``split.engine: spark``), an optional part: its code,
tests, benchmark and docs page (README.md) live in this folder, and it needs the ``spark``
extra and Java 17.

It joins the core through one registration, the engine entry in ``prepare_data/__main__.py``
(``split_engine``), plus its name among ``split.engine``'s choices (``common/params.py``).
Each of those lines ends in ``# optional part: spark_engine``: delete them and this folder,
run ``make schema`` (which rewrites ``dvc.yaml``'s code deps from the imports: this file and
``prepare_data/sql.py``, whose expressions only this engine runs, leave prepare_data's), and
the project works without Spark (tests/test_optional_parts.py does it on a copy).
"""

"""The fixtures these tests share with tests/ (the repository copies), and this part's rank among
the longest modules."""

from tests.conftest import LONGEST_FIRST, pipeline_template, repo_factory  # noqa: F401

# Among the longest modules (tests/conftest.py: LONGEST_FIRST).
LONGEST_FIRST.update({"test_spark_split": 5})

"""The fixtures these tests share with tests/: the repository copies."""

from tests.conftest import pipeline_template, repo_factory  # noqa: F401

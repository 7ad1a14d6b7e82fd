"""The fixtures these tests share with tests/ (the repository copies), and this part's modules
in tests/conftest.py's lists: the unit tests of make test-fast, and the longest modules."""

from tests.conftest import (  # noqa: F401
    FAST_MODULES,
    LONGEST_FIRST,
    built_repo,
    pipeline_template,
    repo,
    repo_factory,
)

FAST_MODULES.update(
    {
        "test_torch_continue",
        "test_torch_data",
        "test_torch_params",
        "test_torch_schedules",
        "test_torch_training",
    }
)
LONGEST_FIRST.update({"test_torch_dvclive": 8, "test_torch_pipeline": 10, "test_torch_distributed": 12})

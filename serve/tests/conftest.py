"""The fixtures these tests share with tests/ (the repository copies, the S3 server), and this
part's unit tests in tests/conftest.py's FAST_MODULES (make test-fast); none is among the
longest (LONGEST_FIRST)."""

from tests.conftest import (  # noqa: F401
    FAST_MODULES,
    built_repo,
    pipeline_template,
    repo,
    repo_factory,
)
from tests.s3_server import moto_server, s3_env  # noqa: F401

FAST_MODULES.update({"test_serve_image"})

"""Code shared by the pipeline stages: typed params, errors, atomic writes, logging."""

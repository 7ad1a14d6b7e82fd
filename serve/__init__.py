"""The model as an HTTP service: ``python -m serve [--rev REV]`` (FastAPI under uvicorn)."""

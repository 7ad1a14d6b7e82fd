"""The FastAPI app: ``/predict``, ``/predict/batch``, ``/health``, ``/ready``, ``/model``, ``/docs``.

``create_app`` takes a model folder's verified bytes (``serve.model_source``); the scorer is
built from them on a background thread when the app starts, and ``/ready`` turns 200 once it
is built. Requests are validated by pydantic: every bad request is a 4xx with a message,
never a 500. With a token, every endpoint but ``/health`` needs ``Authorization: Bearer``.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve.batcher import MicroBatcher
from serve.model_source import ModelFiles
from train.model_store import Scorer, scorer_from_files

log = logging.getLogger("serve")

MIN_TEXT_CHARS = 4
MAX_TEXT_CHARS = 5_000
MAX_BATCH = 1_000
# A batch of MAX_BATCH texts of MAX_TEXT_CHARS (4 bytes a character at most, JSON-escaped) fits.
MAX_BODY_BYTES = 32 * 1024 * 1024
NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def check_review(text: str) -> str:
    """The original service's rules: at least 4 characters, and not just a number."""
    if len(text.strip()) < MIN_TEXT_CHARS:
        raise ValueError(f"Review must be at least {MIN_TEXT_CHARS} characters long")
    if NUMBER.match(text):
        raise ValueError("Review cannot be a number")
    return text


ReviewText = Annotated[
    StrictStr,
    Field(
        max_length=MAX_TEXT_CHARS, description=f"The review: {MIN_TEXT_CHARS} to {MAX_TEXT_CHARS} characters"
    ),
]


class Review(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "a wonderful, warm film"}]}
    )
    text: ReviewText

    _check = field_validator("text")(check_review)


def check_key(key: str | int) -> str | int:
    """A key comes back in the answer, so it must be encodable: JSON's ``"\\udc80"`` decodes to a
    lone surrogate, which no UTF-8 answer can hold (a 500 before this check)."""
    if isinstance(key, str):
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be UTF-8 text: it holds a lone surrogate (\\ud800-\\udfff)") from None
    return key


class Prediction(BaseModel):
    prediction: str = Field(description="positive or negative")
    prediction_score: float = Field(ge=0, le=100, description="confidence in the predicted class, 0-100")
    label: int = Field(description="1 positive, 0 negative")
    score: float = Field(description="the model's score: a probability (logreg, torch) or an SVM margin")


class Instance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: StrictStr | StrictInt = Field(description="returned unchanged with the prediction")
    text: ReviewText

    _check = field_validator("text")(check_review)
    _check_key = field_validator("key")(check_key)


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"instances": [{"key": 1, "text": "a wonderful, warm film"}]}]},
    )
    instances: list[Instance] = Field(min_length=1, max_length=MAX_BATCH)


class KeyedPrediction(Prediction):
    key: str | int


class BatchResponse(BaseModel):
    predictions: list[KeyedPrediction]


class FastJSON(Response):
    """A JSON response serialized by orjson, without re-validating it against the response
    model (which stays in the OpenAPI docs): a quarter of a batch request's time otherwise."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def prediction(score: float, label: int, threshold: float, probability: bool) -> dict[str, Any]:
    """The response body of one text; ``prediction_score`` is the confidence in ``label``."""
    positive = score if probability else 1 / (1 + math.exp(threshold - score))
    confidence = positive if label == 1 else 1 - positive
    return {
        "prediction": "positive" if label == 1 else "negative",
        "prediction_score": round(100 * confidence, 2),
        "label": label,
        "score": score,
    }


def summary(problems: list[dict[str, Any]]) -> str:
    """One line for the first problem of a request: where, and what is wrong."""
    if not problems:
        return "invalid request"
    first = problems[0]
    loc = [part for part in first.get("loc", ()) if part != "body"]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return (
            f"request body is not valid JSON (at character {loc[-1]})"
            if loc
            else "request body is not valid JSON"
        )
    if kind == "model_attributes_type" or (kind == "dict_type" and not loc):
        return "request body must be a JSON object, sent with Content-Type: application/json"
    if "key" in loc and loc[-1] in ("str", "int"):
        loc = loc[: loc.index("key") + 1]
        return f"{'.'.join(map(str, loc))}: must be a string or an integer"
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{'.'.join(map(str, loc))}: {message}" if loc else message


class TokenGuard:
    """Pure ASGI middleware: every path but ``/health`` needs ``Authorization: Bearer <token>``,
    compared with ``hmac.compare_digest`` (constant time). The token is never logged."""

    OPEN_PATHS = frozenset({"/health"})

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = [value for name, value in scope["headers"] if name == b"authorization"]
        # Exactly one: with several, proxies and frameworks disagree on which one counts.
        if len(given) == 1 and hmac.compare_digest(given[0], self._expected):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"message": "missing or wrong bearer token", "detail": "missing or wrong bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413 before reading it all."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            too_large = JSONResponse(
                {
                    "message": f"request body over {self.limit} bytes",
                    "detail": f"request body over {self.limit} bytes",
                },
                status_code=413,
            )
            await too_large(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise HTTPException(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


def create_app(
    model: ModelFiles, token: str | None = None, max_batch: int = 64, max_wait_s: float = 0.0
) -> FastAPI:
    state: dict[str, Any] = {"scorer": None, "batcher": None, "error": None}

    def load_and_warm_up() -> Scorer:
        """On a worker thread: unpickling and the first model call stay off the event loop."""
        scorer = scorer_from_files(model.files, model.where)
        scorer.predict(["warm up the model"])
        # The model's objects (a vocabulary of many strings) live as long as the process:
        # out of the collector's sight, a full collection no longer walks them (tail latency).
        gc.collect()
        gc.freeze()
        return scorer

    async def load() -> None:
        try:
            scorer = await asyncio.to_thread(load_and_warm_up)
        except Exception as error:
            state["error"] = f"{type(error).__name__}: {error}"
            log.error("model could not be loaded: %s", state["error"])
            return
        batcher = MicroBatcher(scorer.predict, max_batch=max_batch, max_wait_s=max_wait_s)
        batcher.start()
        state["scorer"], state["batcher"] = scorer, batcher
        log.info("model loaded: %s %s (md5 %s)", model.info.get("model"), model.where, model.info.get("md5"))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(load())
        yield
        await loading
        if state["batcher"] is not None:
            await state["batcher"].stop()

    app = FastAPI(
        title="Sentiment model service",
        summary="Predictions of the pipeline's model, single or keyed batches.",
        description=f"Texts are {MIN_TEXT_CHARS} to {MAX_TEXT_CHARS} characters; a batch holds up to {MAX_BATCH}.",
        lifespan=lifespan,
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        # FastAPI's 400 for a body it cannot decode (invalid UTF-8, nesting deeper than the
        # JSON parser's recursion limit): the documented 422 with a message, like bad JSON.
        if error.status_code == 400 and error.detail == "There was an error parsing the body":
            message = "body: not valid JSON (malformed, not UTF-8, or nested too deep)"
            return JSONResponse({"message": message, "detail": [{"loc": ["body"], "msg": message}]}, 422)
        if error.status_code >= 400:  # every 4xx and 5xx body has a message (serve/README.md)
            return JSONResponse(
                {"message": str(error.detail), "detail": error.detail},
                error.status_code,
                headers=getattr(error, "headers", None),
            )
        return await http_exception_handler(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        detail = jsonable_encoder(error.errors(), custom_encoder={Exception: str})
        for problem in detail:
            problem.pop("input", None)  # never echo a (possibly huge) input back
            problem.pop("ctx", None)
        return JSONResponse({"message": summary(detail), "detail": detail}, 422)

    def ready_scorer() -> tuple[Scorer, MicroBatcher]:
        if state["scorer"] is None:
            raise HTTPException(503, "the model is not loaded yet")
        return state["scorer"], state["batcher"]

    def is_probability() -> bool:
        return state["scorer"].threshold == 0.5

    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: 200 once the model is loaded, else 503")
    async def ready() -> JSONResponse:
        if state["scorer"] is None:
            reason = "model failed to load" if state["error"] else "model loading"
            return JSONResponse({"status": reason}, status_code=503)
        batcher = state["batcher"]
        return JSONResponse({"status": "ready", "batches": batcher.batches, "batched_texts": batcher.texts})

    @app.get("/model", summary="The served model: kind, params, md5 (as in dvc.lock), git revision, metrics")
    async def model_info() -> dict[str, Any]:
        ready_scorer()
        return model.info

    @app.post("/predict", response_model=Prediction, summary="Predict the sentiment of one text")
    async def predict(review: Review) -> FastJSON:
        scorer, batcher = ready_scorer()
        score, label = await batcher.score_one(review.text)
        return FastJSON(prediction(score, label, scorer.threshold, is_probability()))

    @app.post(
        "/predict/batch",
        response_model=BatchResponse,
        summary=f"Predict up to {MAX_BATCH} keyed texts; keys come back unchanged, in order",
    )
    async def predict_batch(request: BatchRequest) -> dict[str, list[dict[str, Any]]]:
        scorer, batcher = ready_scorer()
        scores, labels = await batcher.score_many([item.text for item in request.instances])
        probability = is_probability()
        return {
            "predictions": [
                {"key": item.key, **prediction(score, label, scorer.threshold, probability)}
                for item, score, label in zip(
                    request.instances, scores.tolist(), labels.tolist(), strict=True
                )
            ]
        }

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    if token:
        app.add_middleware(TokenGuard, token=token)
    app.state.batcher_state = state
    return app

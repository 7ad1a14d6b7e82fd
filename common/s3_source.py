"""Download ``data.source: s3://bucket/key`` for get_data, from AWS S3 or any S3-compatible store.

Credentials and the endpoint come from the standard AWS chain, never from params.yaml:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or ``AWS_PROFILE``, and ``AWS_ENDPOINT_URL``
for MinIO and other stores (boto3 reads it natively; so does the s3fs inside dvc, which
checks the object's ETag for the stage's dependency).

Every failure is one ``PipelineError`` line naming the s3:// URL. The object is streamed to a
file the caller chose (a temp path inside ``atomic_outputs``); its size, and its MD5 when the
ETag is one, are checked before it is accepted, so a cut-off download is never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from common.errors import PipelineError, redact_urls

log = logging.getLogger(__name__)
# The stage logs at INFO; botocore's INFO lines (where it found credentials) are noise there.
logging.getLogger("botocore").setLevel(logging.WARNING)

CHUNK_BYTES = 1 << 20
ACCESS_ERRORS = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "403",
}
MISSING_OBJECT_ERRORS = {"NoSuchKey", "404", "NotFound"}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def redact(url: str) -> str:
    """``url`` without the user name and password it may hold (``http://KEY:SECRET@host``)."""
    return redact_urls(url)


def is_s3_url(source: str) -> bool:
    return source.startswith("s3://")


def parse_s3_url(url: str) -> S3Object:
    """``s3://bucket/key`` -> S3Object; an error naming the URL if either part is missing."""
    parts = urlsplit(url)
    key = parts.path.lstrip("/")
    # A bucket name is 3-63 characters of a-z, 0-9, "." and "-": with an "@" after anything
    # else, the URL holds a user name and password (a secret may hold "/" too).
    first = url.removeprefix("s3://").split("/", 1)[0]
    if "@" in parts.netloc or ("@" in url and not _BUCKET.fullmatch(first)):
        raise PipelineError(
            f"params.yaml: data.source: {redact(url)!r}: credentials in an s3:// URL are refused "
            "(params.yaml is committed, and URLs are logged); set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        )
    if parts.scheme != "s3" or not parts.netloc or not key or key.endswith("/"):
        raise PipelineError(f"params.yaml: data.source: {url!r} is not an s3://bucket/key URL of one object")
    if parts.query or parts.fragment:
        raise PipelineError(
            f"params.yaml: data.source: {url!r}: query strings and fragments are not supported"
        )
    return S3Object(bucket=parts.netloc, key=key)


def s3_client() -> BaseClient:
    """An S3 client configured only by the AWS environment (endpoint, credentials, region)."""
    return boto3.client("s3", config=Config(connect_timeout=10, read_timeout=60))


def _describe_client_error(source: S3Object, endpoint: str, error: ClientError) -> str:
    code = str(error.response.get("Error", {}).get("Code", "unknown"))
    if code == "NoSuchBucket":
        return f"{source.url}: bucket {source.bucket!r} does not exist at {endpoint}"
    if code in MISSING_OBJECT_ERRORS:
        return f"{source.url}: no such object at {endpoint}"
    if code in ACCESS_ERRORS:
        return (
            f"{source.url}: access denied by {endpoint} ({code}); check AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        )
    message = redact(str(error.response.get("Error", {}).get("Message", "")).strip().replace("\n", " "))
    return f"{source.url}: S3 error {code} from {endpoint}" + (f": {message}" if message else "")


def download(url: str, dest: Path) -> str:
    """Stream the object at ``url`` into ``dest``; return its ETag. Errors name the URL."""
    source = parse_s3_url(url)
    endpoint = "the default S3 endpoint"
    try:
        client = s3_client()
        endpoint = redact(client.meta.endpoint_url)
        response = client.get_object(Bucket=source.bucket, Key=source.key)
        etag = str(response["ETag"]).strip('"')
        expected_size = int(response["ContentLength"])
        # A plain ETag is the object's MD5, except for a multipart upload ("<hash>-<parts>") or
        # with KMS or customer-key encryption; then only the size (and any checksum botocore
        # validates itself) can be checked.
        encrypted = response.get("SSECustomerAlgorithm") or str(
            response.get("ServerSideEncryption", "")
        ).startswith("aws:kms")
        etag_is_md5 = not encrypted and "-" not in etag and len(etag) == 32
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        with dest.open("wb") as file, contextlib.closing(response["Body"]):
            for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
                file.write(chunk)
                md5.update(chunk)
                size += len(chunk)
    except ClientError as error:
        raise PipelineError(_describe_client_error(source, endpoint, error)) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise PipelineError(
            f"{source.url}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE"
        ) from None
    except BotoCoreError as error:
        # Connection refused or reset, timeouts, a body cut short: botocore's one-line message.
        detail = redact(str(error).strip().splitlines()[0]) if str(error).strip() else type(error).__name__
        raise PipelineError(f"{source.url}: download from {endpoint} failed: {detail}") from None
    except OSError as error:  # writing the download: disk full, permissions
        raise PipelineError(f"{source.url}: cannot write {dest}: {error.strerror or error}") from None
    if size != expected_size:
        raise PipelineError(f"{source.url}: download incomplete: {size} of {expected_size} bytes")
    if etag_is_md5 and md5.hexdigest() != etag:
        raise PipelineError(f"{source.url}: downloaded bytes do not match the object's ETag {etag}")
    log.info("downloaded %s (%d bytes, ETag %s) from %s", source.url, size, etag, endpoint)
    return etag

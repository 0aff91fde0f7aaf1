"""botocore failures as messages a user can act on, never carrying a secret."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lifeboat.core.stores import RemoteNotFound
from lifeboat.foundation.errors import LifeboatError, RemoteError

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

log = logging.getLogger(__name__)
_CREDENTIALS = (
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidSecurity",
    "AuthorizationQueryParametersError",
)
_REGION = (
    "AuthorizationHeaderMalformed",
    "PermanentRedirect",
    "InvalidRegion",
    "Redirect",
    "IllegalLocationConstraintException",
)


def translate(exc: BaseException, store: Any, key: str | None = None) -> LifeboatError:
    """Turn a boto3/botocore exception into a LifeboatError (message without secrets)."""
    from botocore import exceptions as bx

    if isinstance(exc, LifeboatError):
        return exc
    if isinstance(exc, bx.ClientError):
        return _server_error(exc, store, key)
    return _client_side_error(exc, store)


def _server_error(exc: ClientError, store: Any, key: str | None) -> LifeboatError:
    """An error the server answered with (a botocore ClientError), by its code."""
    name, where = store.name, store.where
    bucket = getattr(store, "bucket", "?")
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "")) or "unknown"
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in ("NoSuchKey", "404", "NotFound") and key is not None:
        return RemoteNotFound(f"{key} is not on remote {name}")
    if code == "NoSuchBucket" or (code in ("404", "NotFound") and key is None):
        return RemoteError(
            f"bucket {bucket!r} does not exist on {where} (remote {name})",
            "create the bucket, or fix the bucket name: lifeboat remote "
            f"add {name} ... --bucket NAME",
        )
    if code in _CREDENTIALS:
        return RemoteError(
            f"{where} refused the credentials of remote {name} ({code})",
            "check the access key id and secret, then store them again: "
            f"lifeboat remote set {name} --access-key-id ID --secret-stdin",
        )
    if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled"):
        return RemoteError(
            f"{where} denied access to bucket {bucket!r} (remote {name})",
            "check that the key may read, write and delete in that bucket",
        )
    if code == "RequestTimeTooSkewed":
        return RemoteError(
            f"this machine's clock is more than 15 minutes off, so {where} refuses the requests",
            "set the clock right (NTP)",
        )
    if code in _REGION or status == 301:
        return RemoteError(
            f"bucket {bucket!r} is in another region than remote {name} says ({code})",
            "fix --region for this remote",
        )
    if status >= 500 or code in ("SlowDown", "InternalError", "ServiceUnavailable"):
        return RemoteError(
            f"{where} failed the request (HTTP {status}, {code}); it will be retried",
            "if it persists, check the service's status",
        )
    return RemoteError(
        f"{where} refused the request: {code} (HTTP {status})",
        f"check the remote's settings with: lifeboat remote test {name}",
    )


def _client_side_error(exc: BaseException, store: Any) -> LifeboatError:
    """A failure with no answer from the server to go by: TLS, credentials or a profile
    missing here, the network, settings botocore refuses, anything else."""
    from botocore import exceptions as bx

    name, where = store.name, store.where
    if isinstance(exc, bx.SSLError):
        return RemoteError(
            f"TLS certificate verification failed for {where}",
            "check the endpoint URL; for your own server with a self-signed "
            "certificate, set insecure = true for that remote",
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return LifeboatError(
            f"no credentials found for remote {name}",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile "
            "in ~/.aws/credentials), or store keys with --credentials keyring",
        )
    if isinstance(exc, bx.ProfileNotFound):
        return LifeboatError(
            f"the AWS profile of remote {name} does not exist", "fix `profile` for that remote"
        )
    if isinstance(
        exc,
        bx.EndpointConnectionError
        | bx.ConnectTimeoutError
        | bx.ReadTimeoutError
        | bx.ConnectionClosedError,
    ):
        # which of the four it was (refused, no connection in time, no answer in time,
        # connection closed) tells a slow server from a missing one: kept in the log
        log.info("remote %s: %s: %s", name, type(exc).__name__, exc)
        return RemoteError(
            f"cannot reach {where} (remote {name}): no network, or a wrong endpoint",
            "check the connection; uploads wait and retry later",
        )
    if isinstance(exc, bx.ParamValidationError):
        return LifeboatError(f"remote {name}: {exc}", "fix the remote's settings")
    if isinstance(exc, bx.BotoCoreError | OSError):
        return RemoteError(
            f"talking to {where} failed: {type(exc).__name__}", "check the connection and retry"
        )
    return RemoteError(
        f"remote {name}: unexpected {type(exc).__name__}", "see the log file for details"
    )

"""A real S3 server process (moto's) for the tests, with authentication switched on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen[bytes]

    def client(self, secret: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret or self.secret_access_key,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_s3_server(*, authenticate: bool = True) -> S3Server:
    """Start `moto_server`; the first 3 requests (creating an IAM user and its key) are
    unauthenticated, every later one is checked like AWS does. Without `authenticate`,
    nothing is checked: moto's signature check decodes some characters of keys and
    queries (non-ASCII, '+', '&', ';', a '/' in a query...) unlike AWS and refuses them."""
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
    if authenticate:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("moto_process.py"))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.isdigit():
        process.kill()
        raise RuntimeError("moto_server did not start")
    endpoint = f"http://127.0.0.1:{int(line)}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("moto_server did not answer") from None
            time.sleep(0.1)
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="lifeboat")
    iam.put_user_policy(
        UserName="lifeboat",
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="lifeboat")["AccessKey"]
    return S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], process)

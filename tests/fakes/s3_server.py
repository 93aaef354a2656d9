"""A real S3-compatible server on 127.0.0.1 for the object-store tests: moto's standalone server (PyPI `moto[server]`,
Apache-2.0), run as its own process so a test can stop it, and workers in other processes can reach it.

It speaks the S3 REST protocol (SigV4, XML errors, NoSuchBucket/NoSuchKey...). It keeps objects in memory, so a
test that wants the bucket "down" for a while cuts a proxy in front of it (tests/e2e/_proxy.py) rather than
stopping it. With `require_auth`, every request must carry keys moto's IAM knows: any other key is refused with
403 InvalidAccessKeyId, as AWS does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

__all__ = ["MotoS3", "aws_env"]

ACCESS_KEY = "pagemill-test-key"
SECRET_KEY = "pagemill-test-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def aws_env(endpoint: str, home: Path) -> dict[str, str]:
    """The environment AWS tools read, pointing at `endpoint`; never the developer's own files or keys."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "aws-config-none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials-none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class MotoS3:
    def __init__(self, log: Path, require_auth: bool = False) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.require_auth = require_auth
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30) -> MotoS3:
        """Start it, or raise RuntimeError saying why it could not (the fixtures turn that into a skip)."""
        env = dict(os.environ)
        if self.require_auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}: {self.log.read_text()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not listen on 127.0.0.1:{self.port} within {timeout_s} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def client(self, endpoint: str | None = None):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=endpoint or self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1")

    def new_bucket(self) -> str:
        name = f"pagemill-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

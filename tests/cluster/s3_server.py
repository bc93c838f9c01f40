"""An S3-compatible server for the object-storage tests, started and stopped
by the test that needs it.

The server is moto's server mode (PyPI `moto[server]`): the S3 REST API over
HTTP on a loopback port, which metricc's real client (the object_store
crate) talks to as it would to AWS. It installs from PyPI in seconds with
nothing to compile, and keeps objects in memory, so every test starts from
an empty server and leaves nothing behind.

Usage: s3_server.py PORT BUCKET PREFIX DIR
Uploads every file below DIR as PREFIX + its path below DIR, prints `ready`
and serves until its standard input closes (the test ends or is killed).
"""

import os
import sys

import boto3
from moto.server import ThreadedMotoServer


def main() -> None:
    port, bucket, prefix, root = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ["AWS_REGION"],
    )
    s3.create_bucket(Bucket=bucket)
    for here, _, names in os.walk(root):
        for name in names:
            path = os.path.join(here, name)
            s3.upload_file(path, bucket, prefix + os.path.relpath(path, root).replace(os.sep, "/"))
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()

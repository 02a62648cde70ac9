#!/usr/bin/python3
"""AWS Signature Version 4 for S3 as botocore (Debian's python3-botocore) computes it: the
independent signer the S3 client's signatures are checked against.

Reads {"requests": [{"method", "url", "headers": {...}, "amz_date": "YYYYMMDDTHHMMSSZ",
"access_key", "secret_key", "token" (or null), "region"}]} on standard input; prints a JSON
list of the headers botocore's S3SigV4Auth adds to each: Authorization, X-Amz-Date,
X-Amz-Content-SHA256 and X-Amz-Security-Token.
"""
import datetime
import json
import sys
import types

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(r):
    fixed = datetime.datetime.strptime(r["amz_date"], "%Y%m%dT%H%M%SZ")

    class Fixed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

    botocore.auth.datetime = types.SimpleNamespace(datetime=Fixed)
    request = AWSRequest(method=r["method"], url=r["url"], headers=dict(r["headers"]), data=b"")
    creds = Credentials(r["access_key"], r["secret_key"], r.get("token"))
    botocore.auth.S3SigV4Auth(creds, "s3", r["region"]).add_auth(request)
    return {k: request.headers[k] for k in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256",
                                            "X-Amz-Security-Token") if k in request.headers}


def main():
    print(json.dumps([sign(r) for r in json.load(sys.stdin)["requests"]]))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""An independent S3 client for the tests: boto3 (Debian's python3-boto3) puts objects into a
local S3 server (s3rver), path-style, with s3rver's default credentials.

  s3_boto3.py ENDPOINT BUCKET KEY FILE [KEY FILE ...]   puts each FILE as KEY; prints their ETags
"""
import json
import sys

import boto3
from botocore.config import Config


def main():
    endpoint, bucket, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER",
                      config=Config(s3={"addressing_style": "path"}))
    etags = {}
    for key, path in zip(pairs[0::2], pairs[1::2]):
        with open(path, "rb") as f:
            etags[key] = s3.put_object(Bucket=bucket, Key=key, Body=f.read())["ETag"].strip('"')
    print(json.dumps(etags))


if __name__ == "__main__":
    main()

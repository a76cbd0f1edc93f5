"""Publishing to S3 served by moto in server mode: objects stored with their types, presigned or public links."""

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from tests.assets.conftest import CONFUSION, LOCAL, content_name, expected_report


@pytest.fixture
def bucket(aws):
    name = f"reports-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _body(comment_body):
    return comment_body.split("\n\n[//]: # (cml-report")[0] + "\n"


def test_presigned_links_to_typed_objects_uploaded_once(actions, github, report_folder, bucket, run_cli):
    result = run_cli("comment", "create", "report.md", "--publish-url", f"s3://{bucket}/ci/reports")
    assert result.exit_code == 0, result.stderr
    client = boto3.client("s3")
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    names = sorted({content_name(data, extension) for data, extension in LOCAL.values()})
    assert keys == [f"ci/reports/{name}" for name in names]
    head = client.head_object(Bucket=bucket, Key=f"ci/reports/{content_name(CONFUSION, '.png')}")
    assert head["ContentType"] == "image/png" and "immutable" in head["CacheControl"]

    (comment,) = github.comments_on(number=7)
    links = {}
    body = _body(comment["body"])
    for name in names:
        links[name] = re.search(rf"http://[^\s()<>\"]+/ci/reports/{name}\?[^\s()<>\"#]+", body)[0]
    assert body == expected_report(lambda name: links[name])
    url = links[content_name(CONFUSION, ".png")]
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["604800"]
    assert requests.get(url, timeout=5).content == CONFUSION
    assert github.server.count("POST") == 1  # the comment; nothing about S3 went to the forge

    assert run_cli("comment", "update", "report.md", "--publish-url", f"s3://{bucket}/ci/reports").exit_code == 0
    versions = client.list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) == len(names)  # nothing uploaded twice


def test_public_links_and_acl(actions, github, report_folder, bucket, run_cli):
    result = run_cli("asset", "publish", "plots/confusion.png", "--url", f"s3://{bucket}", "--publish-public")
    assert result.exit_code == 0, result.stderr
    url = result.stdout.strip()
    assert "X-Amz-Signature" not in url and url.endswith(content_name(CONFUSION, ".png"))
    assert requests.get(url, timeout=5).content == CONFUSION
    grants = boto3.client("s3").get_object_acl(Bucket=bucket, Key=content_name(CONFUSION, ".png"))["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") and g["Permission"] == "READ" for g in grants)
    assert github.server.requests == []  # an S3 publish needs no forge at all


def test_temporary_credentials_warn_and_expiry_is_bounded(actions, report_folder, bucket, run_cli, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "temporary-session-token")
    result = run_cli("asset", "publish", "plots/confusion.png", "--url", f"s3://{bucket}/x", "--publish-expires", "2h")
    assert result.exit_code == 0, result.stderr
    assert "X-Amz-Expires=7200" in result.stdout
    assert "temporary credentials" in result.stderr
    assert "moto-secret-key-for-tests" not in result.stdout + result.stderr
    too_long = run_cli("asset", "publish", "plots/confusion.png", "--url", f"s3://{bucket}", "--publish-expires", "8d")
    assert too_long.exit_code == 1 and too_long.stderr.startswith("cml: error: --publish-expires: presigned S3 links")


def test_a_missing_bucket_is_one_clear_line_and_nothing_is_posted(actions, github, report_folder, aws, run_cli):
    result = run_cli("comment", "create", "report.md", "--publish-url", "s3://no-such-bucket-here/r")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: S3: publishing ")
    assert "NoSuchBucket" in result.stderr and len(result.stderr.splitlines()) == 1
    assert github.comments_on(number=7) == []

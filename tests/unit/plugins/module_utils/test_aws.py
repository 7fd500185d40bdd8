import botocore.exceptions
import pytest

from ansible_collections.ultraai.platform.plugins.module_utils.aws import (
    AWSSetupError,
    aws_argument_spec,
    client_from_params,
    error_message,
)


def params(**kw):
    out = {k: None for k in aws_argument_spec()}
    out["validate_certs"] = True
    out.update(kw)
    return out


def test_client_uses_region_and_endpoint(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    client = client_from_params(params(region="eu-west-1", endpoint_url="http://127.0.0.1:5999",
                                       access_key="a", secret_key="b"), "elbv2")
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:5999"
    assert client.meta.config.retries["mode"] == "standard"


def test_endpoint_from_environment(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5998")
    client = client_from_params(params(region="eu-west-1", access_key="a", secret_key="b"), "s3")
    assert client.meta.endpoint_url == "http://127.0.0.1:5998"


def test_no_region_is_a_clear_error(monkeypatch):
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(AWSSetupError, match="no AWS region"):
        client_from_params(params(access_key="a", secret_key="b"), "elbv2")


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(AWSSetupError, match="nope"):
        client_from_params(params(profile="nope", region="eu-west-1"), "elbv2")


@pytest.mark.parametrize("code, expect", [
    ("AccessDenied", "access denied (AccessDenied)"),
    ("AccessDeniedException", "lack the IAM permission"),
    ("ValidationError", "describe things: ValidationError: boom"),
])
def test_error_message(code, expect):
    exc = botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "boom"}}, "Describe")
    assert expect in error_message(exc, "describe things")


def test_no_credentials_message():
    assert "no AWS credentials" in error_message(botocore.exceptions.NoCredentialsError(), "x")

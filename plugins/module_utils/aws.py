# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared boto3 plumbing for the collection's AWS-facing modules.

The options match the names amazon.aws modules take, so one
``module_defaults: {group/aws: ...}`` block (meta/runtime.yml puts our AWS
modules in that group) configures them all. The documentation for these options
is the ``ultraai.platform.aws`` doc fragment.
"""

import os

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    HAS_BOTO3 = True
except ImportError:
    HAS_BOTO3 = False


def aws_argument_spec():
    """The connection options every AWS-facing module of the collection accepts."""
    return dict(
        access_key=dict(type="str", aliases=["aws_access_key_id", "aws_access_key", "ec2_access_key"], no_log=False),
        secret_key=dict(type="str", aliases=["aws_secret_access_key", "aws_secret_key", "ec2_secret_key"], no_log=True),
        session_token=dict(type="str", aliases=["aws_session_token", "security_token", "aws_security_token"],
                           no_log=True),
        profile=dict(type="str", aliases=["aws_profile"]),
        region=dict(type="str", aliases=["aws_region", "ec2_region"]),
        endpoint_url=dict(type="str", aliases=["aws_endpoint_url", "ec2_url", "s3_url"]),
        validate_certs=dict(type="bool", default=True),
        aws_ca_bundle=dict(type="path"),
        aws_config=dict(type="dict"),
    )


class AWSSetupError(Exception):
    """The module cannot talk to AWS at all (no boto3, no region, bad profile)."""


def session_from_params(params):
    if not HAS_BOTO3:
        raise AWSSetupError("this needs the boto3 and botocore Python libraries on the host that runs the module")
    kwargs = {}
    if params.get("profile"):
        kwargs["profile_name"] = params["profile"]
    if params.get("access_key"):
        kwargs["aws_access_key_id"] = params["access_key"]
    if params.get("secret_key"):
        kwargs["aws_secret_access_key"] = params["secret_key"]
    if params.get("session_token"):
        kwargs["aws_session_token"] = params["session_token"]
    try:
        return boto3.session.Session(**kwargs)
    except botocore.exceptions.ProfileNotFound as exc:
        raise AWSSetupError(str(exc))


def client_from_params(params, service, max_attempts=8, session=None):
    """A boto3 client for ``service``: region, endpoint, certificates and
    retries (botocore's standard mode: throttling backs off and retries) from
    the module's parameters, else from the environment as boto3 reads it."""
    session = session or session_from_params(params)
    config = dict(params.get("aws_config") or {})
    config.setdefault("retries", {"mode": "standard", "max_attempts": max_attempts})
    kwargs = {"config": botocore.config.Config(**config)}
    region = params.get("region") or session.region_name or os.environ.get("AWS_REGION")
    if region:
        kwargs["region_name"] = region
    endpoint = params.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if params.get("aws_ca_bundle"):
        kwargs["verify"] = params["aws_ca_bundle"]
    elif params.get("validate_certs") is False:
        kwargs["verify"] = False
    try:
        return session.client(service, **kwargs)
    except botocore.exceptions.NoRegionError:
        raise AWSSetupError("no AWS region: set region (or module_defaults group/aws, or AWS_REGION)")


def error_message(exc, action):
    """One line for a failed AWS call: what was attempted, the error code and AWS's message."""
    if HAS_BOTO3 and isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "Unknown")
        text = err.get("Message", "")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            return "%s: access denied (%s): %s. The credentials in use lack the IAM permission for this call." % (
                action, code, text)
        return "%s: %s: %s" % (action, code, text)
    if HAS_BOTO3 and isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "%s: no AWS credentials found (set access_key/secret_key, profile, or the environment)" % action
    if HAS_BOTO3 and isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return "%s: cannot reach the AWS endpoint: %s" % (action, exc)
    return "%s: %s" % (action, exc)


def aws_error_types():
    """The exception classes an AWS call can raise, for ``except`` clauses."""
    if not HAS_BOTO3:
        return (Exception,)
    return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)

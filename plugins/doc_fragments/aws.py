# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # The connection options of plugins/module_utils/aws.py (aws_argument_spec).
    DOCUMENTATION = r"""
options:
  access_key:
    description: AWS access key ID. Else from the profile or the environment, as boto3 finds it.
    type: str
    aliases: [aws_access_key_id, aws_access_key, ec2_access_key]
  secret_key:
    description: AWS secret access key.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key, ec2_secret_key]
  session_token:
    description: AWS session token for temporary credentials.
    type: str
    aliases: [aws_session_token, security_token, aws_security_token]
  profile:
    description: A named profile from the AWS config files.
    type: str
    aliases: [aws_profile]
  region:
    description: AWS region. Else from the profile or C(AWS_REGION).
    type: str
    aliases: [aws_region, ec2_region]
  endpoint_url:
    description:
      - Endpoint to send the calls to instead of AWS's own, for example a moto server
        (C(http://127.0.0.1:5000)). Else C(AWS_ENDPOINT_URL) when set.
    type: str
    aliases: [aws_endpoint_url, ec2_url, s3_url]
  validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
  aws_ca_bundle:
    description: A CA bundle to verify the endpoint's certificate with.
    type: path
  aws_config:
    description:
      - Extra botocore client configuration (C(botocore.config.Config) keyword arguments).
      - Without a C(retries) key, calls retry up to 8 times in botocore's standard mode,
        which backs off on throttling.
    type: dict
notes:
  - These options take the names amazon.aws modules use. The module is in the C(group/aws)
    action group, so C(module_defaults) for C(group/aws) apply to it.
requirements:
  - boto3
  - botocore
"""

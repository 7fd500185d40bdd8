# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way for the cost modules to make an AWS call: a one-line error instead of a
traceback, and throttling retried with jittered exponential backoff.

botocore's standard retry mode (module_utils/aws.py) already retries throttled
HTTP requests; this outer loop covers throttling that outlasts it (Cost Explorer
and the tagging API have low request rates) and works the same when a test stubs
the client (botocore's Stubber answers before botocore's own retry handler runs).
"""

import random
import time

from ansible_collections.ultraai.platform.plugins.module_utils.aws import aws_error_types, error_message

THROTTLING_CODES = frozenset([
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException", "SlowDown",
])
ATTEMPTS = 5
BASE_DELAY = 1.0
MAX_DELAY = 20.0
SLEEP = time.sleep  # tests replace it


DENIED_CODES = frozenset(["AccessDenied", "AccessDeniedException", "UnauthorizedOperation"])


class AWSCallError(Exception):
    """An AWS call failed; the message is one line. code: the AWS error code, if any."""

    def __init__(self, msg, code=None):
        super(AWSCallError, self).__init__(msg)
        self.code = code

    def whole_run(self):
        """Whether the error is about the caller, not the resources: throttling that
        outlasted the retries, or a missing permission."""
        return self.code in THROTTLING_CODES or self.code in DENIED_CODES


def _code(exc):
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code")


def call(action, func, **kwargs):
    """func(**kwargs); AWSCallError with one clear line when it fails."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return func(**kwargs)
        except aws_error_types() as exc:
            throttled = _code(exc) in THROTTLING_CODES
            if throttled and attempt < ATTEMPTS:
                SLEEP(min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))
                continue
            msg = error_message(exc, action)
            if throttled:
                msg += " (still throttled after %d attempts)" % ATTEMPTS
            raise AWSCallError(msg, _code(exc))
    raise AWSCallError("%s: no attempt made" % action)  # not reached: ATTEMPTS >= 1

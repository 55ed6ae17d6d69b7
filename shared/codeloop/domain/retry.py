"""Old name of :mod:`codeloop.domain.call_retries`, kept only because ``domain/repo_config.py``
(being edited on another branch) still imports it; delete once that import reads
``from codeloop.domain.call_retries import CallRetryPolicies``."""

from codeloop.domain.call_retries import CallRetryPolicies as RetryPolicies

__all__ = ["RetryPolicies"]

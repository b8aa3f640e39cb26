"""One flat error hierarchy.  Messages name the offending value and what to do next.

``MLGymError`` and its subclasses are *user* errors: the CLI prints their message on
one line and exits non-zero, without a traceback.
"""

from __future__ import annotations


class MLGymError(Exception):
    """Base class of every error the user can cause and fix."""


class TaskError(MLGymError):
    """A task is unknown or its task.yaml is malformed."""


class DataError(MLGymError):
    """Task data is missing, corrupt, or cannot be downloaded."""

    reason = "data_error"  # the ending reason when this ends a run: status "error"


class SandboxError(MLGymError):
    """A sandbox backend is unavailable or broken (not: a command that failed)."""

    reason = "sandbox_error"  # the ending reason when this ends a run: status "error"


class ImageMissingError(SandboxError):
    """The Docker image for a sandbox has not been built."""


class ActionError(MLGymError, ValueError):
    """An agent action could not be parsed or validated.  Becomes an observation."""


class PathEscapeError(ActionError, PermissionError):
    """A tool path resolved outside the workspace."""


class AgentError(MLGymError):
    """An agent is unknown or misconfigured."""


class LLMError(MLGymError):
    """An LLM call failed for good (after retries), or a key is missing."""

    reason = "llm_error"  # the run's ending reason (result.json) when this ends it: status "error"


class LLMUnavailable(LLMError):
    """The LLM service could not be reached (or kept failing) after every retry."""

    reason = "llm_unreachable"


class BudgetExceededError(MLGymError):
    """A run's cost or token budget is spent."""

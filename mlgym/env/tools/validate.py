"""``Validate``: the validation score of ``valid_submission.csv`` (offered with ``reward_mode="dense"``, see :mod:`mlgym.env.dense`)."""

from __future__ import annotations

from mlgym.core.errors import ActionError
from mlgym.env.tools.base import ToolContext, tool


@tool("Validate")
def validate(ctx: ToolContext) -> str:
    """Use this to score valid_submission.csv (your predictions for data/valid.csv) on the validation rows.

    Returns:
        The validation score and its improvement over the baseline, or why it could not be scored.
    """
    score = ctx.extra.get("validate")
    if not callable(score):
        raise ActionError("Validate is offered only with dense rewards (reward_mode='dense')")
    res = score()
    if res.get("score") is None:
        return f"Validation: not scored ({res.get('error')})."
    return f"Validation score: {res['score']:.6g} (improvement over the baseline {res['improvement']:+.2%})."

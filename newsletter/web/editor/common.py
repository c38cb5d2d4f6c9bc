"""The editor blueprint and what its pages share: the logged-in editor, the issue."""
from __future__ import annotations

from flask import Blueprint, abort

from ...comparisons.models import REVIEWERS
from ...issues.content import load_issue
from ...issues.models import Issue
from ..context import get_session
from .auth import current_editor

bp = Blueprint("editor", __name__, url_prefix="/editor")


@bp.context_processor
def _editor_context():
    return {"editor": current_editor(), "reviewers": REVIEWERS}


def get_issue(issue_id: int) -> Issue:
    issue = load_issue(get_session(), issue_id)
    if issue is None:
        abort(404)
    return issue

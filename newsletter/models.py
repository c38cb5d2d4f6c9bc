"""Every table, for Alembic and the tests.

Each feature owns its models (`audience.models`, `comparisons.models`, …) and
feature code imports them from there; importing this module registers them all
on `db.Base.metadata` at once.
"""
from .audience.models import Subscriber, SubscriberStatus
from .comparisons.models import REVIEWERS, VERDICTS, Comparison, Review, Reviewer, Tool, Verdict
from .delivery.models import Delivery, DeliveryStatus
from .editors.models import Editor
from .issues.models import IntroFormat, Issue, IssueItem, IssueStatus, SendSchedule

__all__ = [
    "REVIEWERS",
    "VERDICTS",
    "Comparison",
    "Delivery",
    "DeliveryStatus",
    "Editor",
    "IntroFormat",
    "Issue",
    "IssueItem",
    "IssueStatus",
    "Review",
    "Reviewer",
    "SendSchedule",
    "Subscriber",
    "SubscriberStatus",
    "Tool",
    "Verdict",
]

"""Every table, for Alembic and the tests.

Each feature owns its models (`audience.models`, `comparisons.models`, …) and
feature code imports them from there; importing this module registers them all
on `db.Base.metadata` at once.
"""
from .audience.models import Erasure, ImportStatus, Subscriber, SubscriberImport, SubscriberStatus
from .comparisons.models import REVIEWERS, VERDICTS, Comparison, Review, Reviewer, Tool, Verdict
from .delivery.models import Delivery, DeliveryRollup, DeliverySnapshot, DeliveryStatus
from .editors.models import Editor
from .feedback.models import Disposition, FeedbackEvent, FeedbackKind, FeedbackSource, InboundMessage, InboxEntry
from .issues.models import IntroFormat, Issue, IssueItem, IssueStatus, SendSchedule
from .readers.models import Click, IssueVariant, Welcome, WelcomeSettings, WelcomeStatus

__all__ = [
    "REVIEWERS",
    "VERDICTS",
    "Click",
    "Comparison",
    "Delivery",
    "DeliveryRollup",
    "DeliverySnapshot",
    "DeliveryStatus",
    "Disposition",
    "Editor",
    "FeedbackEvent",
    "FeedbackKind",
    "FeedbackSource",
    "InboundMessage",
    "InboxEntry",
    "Erasure",
    "ImportStatus",
    "IntroFormat",
    "Issue",
    "IssueItem",
    "IssueStatus",
    "IssueVariant",
    "Review",
    "Reviewer",
    "SendSchedule",
    "Subscriber",
    "SubscriberImport",
    "SubscriberStatus",
    "Tool",
    "Verdict",
    "Welcome",
    "WelcomeSettings",
    "WelcomeStatus",
]

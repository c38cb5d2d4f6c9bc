"""The schema, one module per stage. Import from here so every table is registered."""
from .comparisons import REVIEWERS, VERDICTS, Comparison, Review, Tool
from .deliveries import Delivery, DeliveryStatus
from .issues import Editor, Issue, IssueItem, IssueStatus, SendSchedule
from .subscribers import Subscriber, SubscriberStatus

__all__ = [
    "REVIEWERS",
    "VERDICTS",
    "Comparison",
    "Delivery",
    "DeliveryStatus",
    "Editor",
    "Issue",
    "IssueItem",
    "IssueStatus",
    "Review",
    "SendSchedule",
    "Subscriber",
    "SubscriberStatus",
    "Tool",
]

"""The periodic work the scheduler (celery beat) enqueues.

Every periodic task scans the database for what is due; none relies on a Celery
ETA or countdown, which Redis would redeliver after the visibility timeout.
"""
from __future__ import annotations


def beat_schedule() -> dict:
    return {
        "resend-lost-confirmations": {
            "task": "workers.audience.resend_lost_confirmations",
            "schedule": 60.0,
        },
        # Welcome mails whose message was lost, whose retry is due, or whose worker died.
        "sweep-welcomes": {
            "task": "workers.readers.sweep_welcomes",
            "schedule": 60.0,
        },
        # Every 15 s, so rows of a dead worker are due again within a minute of its last
        # lease renewal (SEND_LEASE_SECONDS, 45 s).
        "sweep-deliveries": {
            "task": "workers.delivery.sweep_deliveries",
            "schedule": 15.0,
        },
        # Retention: old issues' delivered rows become counts (bounded batches per run).
        "roll-up-deliveries": {
            "task": "workers.delivery.roll_up_deliveries",
            "schedule": 600.0,
        },
        # The scheduler's relay hands the feedback inbox to a worker within a second;
        # this is the belt for a relay that could not reach the broker.
        "apply-feedback": {
            "task": "workers.feedback.apply_feedback",
            "schedule": 300.0,
        },
        "purge-unconfirmed": {
            "task": "workers.audience.purge_unconfirmed",
            "schedule": 3600.0,
        },
        # Click counting keeps a hash of the address only while a burst is possible.
        "forget-click-sources": {
            "task": "workers.readers.forget_click_sources",
            "schedule": 600.0,
        },
        # The weekly issue: keep the one upcoming draft current; start due issues.
        "refresh-draft": {
            "task": "workers.issues.refresh_draft",
            "schedule": 300.0,
        },
        "start-due-issues": {
            "task": "workers.issues.start_due_issues",
            "schedule": 60.0,
        },
    }

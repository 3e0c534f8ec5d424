"""The alerts app's write sink (`data.services.write_sink_register`, registered in
`alerts.apps`): called inside every write's transaction with what it stored.

For a write of properties no enabled alert of the account watches, by devices without a period,
it costs no query: `alerts.watch` answers from this process's snapshot.
"""

from __future__ import annotations

from django.db import transaction

from alerts.activity import SOURCE, activity_points, activity_touch
from alerts.evaluation import points_evaluate
from alerts.watch import snapshot
from data.services import WriteOutcome


def alerts_sink(outcome: WriteOutcome) -> None:
    if not outcome.stored:
        return
    snap = snapshot()
    if snap.watched and outcome.source != SOURCE:  # the platform's own writes are no message
        seen, commanded = activity_points(outcome.stored, snap.watched)
        if seen or commanded:
            activity_touch(seen=seen, commanded=commanded)
    if snap.triggers:
        triggered = [p for p in outcome.stored if p.channel in snap.triggers_of(p.account_id)]
        if triggered:
            transaction.on_commit(lambda: points_evaluate(triggered))

"""SPEC §8: expiry purges in bounded batches and reports what it removed."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from commands.models import Command
from data.expiry import expiry_purge
from data.models import DataPoint, JournalEntry
from data.services import PointIn, points_write
from plugboard.principals import Principal
from plugboard.timestamps import now_ms


def _principal(enrolled) -> Principal:
    return Principal(
        account_id=enrolled.plug.account_id,
        kind="plug",
        credential=enrolled.plug.id,
        plug_id=enrolled.plug.id,
        plug_ids=(enrolled.plug.id,),
    )


def test_purge_removes_only_expired_points_in_batches(thing) -> None:
    now = now_ms()
    points = [PointIn(channel="t", data=i, at=now - 10_000 + i, expire_at=now - 1) for i in range(25)]
    points += [
        PointIn(channel="t", data="keep", at=now, ttl=3600),
        PointIn(channel="u", data="forever", at=now),
    ]
    results = points_write(principal=_principal(thing), points=points, source="http")
    assert all(r.ok for r in results)

    counts = expiry_purge(batch=10)

    assert counts["points"] == 25
    assert sorted(DataPoint.objects.values_list("data", flat=True)) == ["forever", "keep"]
    # The journal is append-only and keeps its own retention: the writes are still there.
    assert JournalEntry.objects.filter(event="data").count() == 27


def test_purge_twice_is_harmless(thing) -> None:
    now = now_ms()
    points_write(
        principal=_principal(thing),
        points=[PointIn(channel="t", data=1, at=now, expire_at=now - 1)],
        source="http",
    )
    assert expiry_purge()["points"] == 1
    assert expiry_purge()["points"] == 0


def test_old_journal_and_expired_commands(thing, settings) -> None:
    settings.PLUGBOARD = {**settings.PLUGBOARD, "JOURNAL_RETENTION_DAYS": 1}
    now = now_ms()
    JournalEntry.objects.create(
        account_id=thing.plug.account_id, received_at=now - 3 * 86_400_000, source="http", credential="x"
    )
    Command.objects.create(
        account_id=thing.plug.account_id,
        plug=thing.plug,
        property="p",
        value=1,
        at=now,
        credential="x",
        expire_at=now - 1,
    )
    Command.objects.create(
        account_id=thing.plug.account_id,
        plug=thing.plug,
        property="p",
        value=2,
        at=now,
        credential="x",
        expire_at=now - 3 * 86_400_000,
    )

    counts = expiry_purge()

    assert counts["journal"] == 1
    assert counts["commands_expired"] == 2
    assert counts["commands"] == 1
    assert list(Command.objects.values_list("state", flat=True)) == ["expired"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_purges_at_once_share_the_rows_and_keep_the_rest(thing) -> None:
    """Two workers purge together (beat fired twice): each batch takes only rows no other batch
    holds, so the counts add up to what expired and no unexpired row goes."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has one writer")
    now = now_ms()
    points = [PointIn(channel="t", data=i, at=now - 10_000 + i, expire_at=now - 1) for i in range(600)]
    points += [PointIn(channel="k", data=i, at=now + i, ttl=3600) for i in range(50)]
    assert all(r.ok for r in points_write(principal=_principal(thing), points=points, source="http"))

    counts: list[int] = []
    errors: list[BaseException] = []

    def purge() -> None:
        try:
            counts.append(expiry_purge(now=now, batch=7)["points"])
        except BaseException as error:  # noqa: BLE001 (the test asserts there were none)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=purge) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert sum(counts) == 600
    assert sorted(DataPoint.objects.values_list("channel", flat=True).distinct()) == ["k"]
    assert DataPoint.objects.count() == 50

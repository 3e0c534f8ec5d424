"""MQTT sessions belong to an account: keyed by (account, client id), no longer by client id alone.

The primary key changes, which neither engine does in place the same way, so the sessions move
to a new table: create it, copy every session whose account is known (a plug's session: the
plug's account), drop the old table, give the new one the old name. A session without a plug
(an API client or user key's) names no account and is not kept: that client's next
clean-session-0 CONNECT gets session_present = 0 once.
"""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def copy_forward(apps: Any, schema_editor: Any) -> None:
    old = apps.get_model("commands", "MqttSession")
    new = apps.get_model("commands", "AccountMqttSession")
    sessions = old.objects.using(schema_editor.connection.alias).filter(plug__isnull=False)
    new.objects.using(schema_editor.connection.alias).bulk_create(
        [
            new(
                account_id=session.plug.account_id,
                client_id=session.client_id,
                plug_id=session.plug_id,
                subscriptions=session.subscriptions,
            )
            for session in sessions.select_related("plug").iterator()
        ],
        batch_size=1000,
    )


def copy_backward(apps: Any, schema_editor: Any) -> None:
    # The old table holds one session per client id: the most recently used one wins.
    old = apps.get_model("commands", "MqttSession")
    new = apps.get_model("commands", "AccountMqttSession")
    kept: dict[str, Any] = {}
    for session in new.objects.using(schema_editor.connection.alias).order_by("date_modified").iterator():
        kept[session.client_id] = session
    old.objects.using(schema_editor.connection.alias).bulk_create(
        [
            old(client_id=s.client_id, plug_id=s.plug_id, subscriptions=s.subscriptions)
            for s in kept.values()
        ],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("commands", "0001_initial"),
        ("devices", "0002_initial"),
        ("plugboard", "0002_apiclient_empty_scope"),
    ]

    operations = [
        migrations.CreateModel(
            name="AccountMqttSession",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("client_id", models.CharField(max_length=128)),
                ("subscriptions", models.JSONField(default=dict, help_text="topic filter → granted QoS")),
                ("date_modified", models.DateTimeField(auto_now=True)),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="plugboard.account"
                    ),
                ),
                (
                    "plug",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="devices.plug",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("account", "client_id"), name="mqtt_session_per_account")
                ],
            },
        ),
        migrations.RunPython(copy_forward, copy_backward),
        migrations.DeleteModel(name="MqttSession"),
        migrations.RenameModel(old_name="AccountMqttSession", new_name="MqttSession"),
        # Reverse accessors only (no database change): the names the old model held.
        migrations.AlterField(
            model_name="mqttsession",
            name="account",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="mqtt_sessions", to="plugboard.account"
            ),
        ),
        migrations.AlterField(
            model_name="mqttsession",
            name="plug",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="mqtt_sessions",
                to="devices.plug",
            ),
        ),
    ]

"""API client keys made with no scope could do everything; an empty scope now grants nothing.
Existing keys keep what they could do: their scope becomes `*`."""

from django.db import migrations


def grant_all(apps, schema_editor):
    ApiKey = apps.get_model("plugboard", "ApiKey")
    for key in ApiKey.objects.filter(kind="apiclient").only("id", "scope"):
        if not key.scope:
            key.scope = ["*"]
            key.save(update_fields=["scope"])


class Migration(migrations.Migration):
    dependencies = [("plugboard", "0001_initial")]

    operations = [migrations.RunPython(grant_all, migrations.RunPython.noop)]

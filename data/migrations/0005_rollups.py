"""Rollups (SPEC §14): minute, hour and day buckets of every series, and the marks of the
minutes whose buckets are to be recomputed. The points stored before them are marked here, one
statement, so the first refresh rolls up the existing history (until then reads take it raw).
"""

from django.db import migrations, models


def _mark_existing(apps, schema_editor):
    schema_editor.execute(
        'INSERT INTO data_rollupmark (account_id, channel, "of", minute) '
        'SELECT DISTINCT account_id, channel, "of", at / 60000 * 60000 FROM data_datapoint'
    )


class Migration(migrations.Migration):

    dependencies = [
        ('data', '0004_journal_partitions'),
    ]

    operations = [
        migrations.CreateModel(
            name='Rollup',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('account_id', models.CharField(max_length=28)),
                ('channel', models.CharField(max_length=200)),
                ('of', models.CharField(max_length=28)),
                ('level', models.IntegerField(choices=[(60000, 'Minute'), (3600000, 'Hour'), (86400000, 'Day')], help_text="the bucket's width, ms")),
                ('bucket', models.BigIntegerField(help_text="the bucket's start, ms since the epoch (a multiple of level)")),
                ('count', models.BigIntegerField(help_text='points, of any value')),
                ('numbers', models.BigIntegerField(help_text='points whose value is a number (not a boolean)')),
                ('total', models.FloatField(help_text='sum of the numbers', null=True)),
                ('low', models.FloatField(help_text='least number', null=True)),
                ('high', models.FloatField(help_text='greatest number', null=True)),
                ('first_at', models.BigIntegerField()),
                ('first', models.JSONField(null=True)),
                ('last_at', models.BigIntegerField()),
                ('last', models.JSONField(null=True)),
            ],
            options={
                'indexes': [models.Index(fields=['level', 'bucket'], name='rollup_retention')],
                'constraints': [models.UniqueConstraint(models.F('account_id'), models.F('channel'), models.F('of'), models.F('level'), models.F('bucket'), name='rollup_key')],
            },
        ),
        migrations.CreateModel(
            name='RollupMark',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('account_id', models.CharField(max_length=28)),
                ('channel', models.CharField(max_length=200)),
                ('of', models.CharField(max_length=28)),
                ('minute', models.BigIntegerField(help_text="the minute's start, ms")),
            ],
            options={
                'indexes': [models.Index(fields=['account_id', 'channel', 'of', 'minute'], name='rollupmark_series')],
            },
        ),
        migrations.RunPython(_mark_existing, migrations.RunPython.noop),
    ]

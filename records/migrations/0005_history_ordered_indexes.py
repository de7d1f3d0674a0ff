"""History indexes shaped for the changes page at millions of rows (see records/history.py).

1. The indexes a page walks end with the page's whole order: date, then id (one bulk
   edit or import writes thousands of rows at one moment). An index that stops at the
   date cannot give that order, so with 1.6M history rows a filter on a channel, a
   person or an operation made the planner walk history_org_recent through every
   newer row instead: 0.6 s for channel=web behind 1.2M newer rows of other channels,
   40 ms with these.
2. history_org_own: the rows written one at a time (no changeset), in date order,
   where a reason search walks when its matches are among the newest. Import runs'
   rows, which have a changeset, are not in it.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('records', '0004_record_source_hash'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='historicalrecord',
            name='history_org_user',
        ),
        migrations.RemoveIndex(
            model_name='historicalrecord',
            name='history_org_channel',
        ),
        migrations.RemoveIndex(
            model_name='historicalrecord',
            name='history_changeset',
        ),
        migrations.AddIndex(
            model_name='historicalrecord',
            index=models.Index(condition=models.Q(('changeset__isnull', True)), fields=['organisation', '-history_date', '-history_id'], name='history_org_own'),
        ),
        migrations.AddIndex(
            model_name='historicalrecord',
            index=models.Index(fields=['organisation', 'history_user', '-history_date', '-history_id'], name='history_org_user'),
        ),
        migrations.AddIndex(
            model_name='historicalrecord',
            index=models.Index(fields=['organisation', 'channel', '-history_date', '-history_id'], name='history_org_channel'),
        ),
        migrations.AddIndex(
            model_name='historicalrecord',
            index=models.Index(condition=models.Q(('changeset__isnull', False)), fields=['changeset', '-history_date', '-history_id'], name='history_changeset'),
        ),
    ]

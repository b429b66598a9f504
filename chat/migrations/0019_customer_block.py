# 黑名单 (chat.blocks), the address a customer last opened a chat from, the contact_left event
# (留下联系方式, chat.profile.leave_contact) and the reasons of a rating (chat.ratings.REASONS).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0007_routing_version'),
        ('chat', '0018_wrap_up'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='satisfactionrating',
            name='reasons',
            field=models.JSONField(blank=True, default=list, verbose_name='reasons'),
        ),
        migrations.AddField(
            model_name='customer',
            name='last_ip',
            field=models.CharField(blank=True, max_length=64, verbose_name='last address'),
        ),
        migrations.AlterField(
            model_name='conversationevent',
            name='kind',
            field=models.CharField(choices=[('created', 'Created'), ('state_changed', 'State changed'), ('assigned', 'Assigned'), ('routed', 'Queued or pooled by routing'), ('transferred', 'Transferred'), ('snoozed', 'Snoozed'), ('woken', 'Woken from snooze'), ('tagged', 'Customer tags changed'), ('bot_answered', 'Answered by the bot'), ('bot_suggested', 'Bot suggested articles'), ('handed_off', 'Handed to a person'), ('first_response', 'First response'), ('message_recalled', 'Message recalled'), ('rated', 'Rated by the customer'), ('auto_replied', 'Auto-reply sent'), ('hosted', 'Hosting reply sent'), ('flagged', 'Sensitive words found'), ('csat_prompted', 'Rating requested'), ('wrapped_up', 'Wrap-up category chosen'), ('contact_left', 'Contact details left'), ('blocked', 'Customer blocked'), ('unblocked', 'Customer unblocked')], max_length=20),
        ),
        migrations.CreateModel(
            name='CustomerBlock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ip', models.CharField(blank=True, max_length=64, verbose_name='address')),
                ('reason', models.CharField(max_length=200, verbose_name='reason')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='blocked at')),
                ('expires_at', models.DateTimeField(blank=True, null=True, verbose_name='until')),
                ('lifted_at', models.DateTimeField(blank=True, null=True, verbose_name='lifted at')),
                ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='blocked by')),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='blocks', to='chat.customer', verbose_name='customer')),
                ('lifted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='lifted by')),
                ('source', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='derived', to='chat.customerblock')),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.workspace')),
            ],
            options={
                'verbose_name': 'blocked customer',
                'verbose_name_plural': 'blocklist',
                'indexes': [models.Index(condition=models.Q(('lifted_at__isnull', True), models.Q(('ip', ''), _negated=True)), fields=['workspace', 'ip'], name='block_open_ip')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('lifted_at__isnull', True)), fields=('customer',), name='uniq_open_block')],
            },
        ),
    ]

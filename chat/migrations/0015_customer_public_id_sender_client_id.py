import secrets

from django.db import migrations, models
from django.db.models import Count, Q

import chat.models


def fill_public_ids(apps, schema_editor):
    Customer = apps.get_model("chat", "Customer")
    for customer in Customer.objects.filter(public_id__isnull=True).only("pk").iterator():
        Customer.objects.filter(pk=customer.pk).update(public_id=secrets.token_urlsafe(16))


def release_repeated_client_ids(apps, schema_editor):
    """Before the unique (sender, client_msg_id) constraint: a repeat stored in a later conversation
    (the bug this constraint closes) keeps its content but gives up the client id."""
    Message = apps.get_model("chat", "Message")
    repeated = (Message.objects.exclude(client_msg_id="").values("sender_key", "client_msg_id")
                .annotate(n=Count("pk")).filter(n__gt=1))
    for row in repeated.iterator():
        first = Message.objects.filter(sender_key=row["sender_key"], client_msg_id=row["client_msg_id"]).order_by("pk").first()
        (Message.objects.filter(sender_key=row["sender_key"], client_msg_id=row["client_msg_id"])
         .exclude(pk=first.pk).update(client_msg_id=""))


class Migration(migrations.Migration):
    dependencies = [("chat", "0014_participant")]

    operations = [
        migrations.AddField("customer", "public_id", models.CharField(max_length=32, null=True, editable=False)),
        migrations.RunPython(fill_public_ids, migrations.RunPython.noop),
        migrations.AlterField(
            "customer", "public_id",
            models.CharField(max_length=32, unique=True, default=chat.models.new_public_id, editable=False),
        ),
        migrations.RunPython(release_repeated_client_ids, migrations.RunPython.noop),
        migrations.RemoveConstraint("message", "uniq_message_client_id"),
        migrations.AddConstraint(
            "message",
            models.UniqueConstraint(fields=["sender_key", "client_msg_id"], condition=~Q(client_msg_id=""), name="uniq_message_sender_client_id"),
        ),
    ]

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class FollowUp(models.Model):
    """Work that must happen after a commit (the bot's answer, keyword replies and hosting, Web
    Push), written in the same transaction as what caused it and run exactly once by a worker
    (lifecycle.followups): at once after the commit, or by the scheduler loop if the process
    that committed died first. Failures are retried with backoff and kept, visible, when they
    keep failing."""

    class Kind(models.TextChoices):
        CUSTOMER_MESSAGE = "customer_message", _("Answer a customer message (keyword reply, bot, hosting)")
        PUSH_MESSAGE = "push_message", _("Web Push: a customer message")
        PUSH_CONVERSATION = "push_conversation", _("Web Push: a conversation waiting or assigned")
        PUSH_ALERT = "push_alert", _("Web Push: a sensitive-word alert")
        CHANNEL_SEND = "channel_send", _("Deliver a message to WeChat")
        WECOM_KF_STATE = "wecom_kf_state", _("WeCom customer service: session state")
        OFFLINE_PUSH = "offline_push", _("Web Push: left messages for an offline member")
        OFFLINE_EMAIL = "offline_email", _("E-mail digest: left messages for an offline member")
        INVITE_EMAIL = "invite_email", _("E-mail an invitation link")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    # Empty for a job about a member rather than one conversation (an offline digest: lifecycle.offline_notify).
    conversation = models.ForeignKey("chat.Conversation", on_delete=models.CASCADE, related_name="+", verbose_name=_("conversation"),
                                     null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    data = models.JSONField(default=dict, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    # Pending rows run from then on: a grace period after the commit (the committing process runs
    # them at once), or the end of a runner's lease, or the next retry.
    run_after = models.DateTimeField(_("runs from"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("follow-up job")
        verbose_name_plural = _("follow-up jobs")
        indexes = [models.Index(fields=["run_after", "id"], condition=Q(state="pending"), name="followup_due")]

    def __str__(self):
        return f"{self.kind} #{self.conversation_id} ({self.state})"


class NotifyInterval(models.IntegerChoices):
    """How often, at most, an offline member is told (minutes)."""

    QUARTER_HOUR = 15, _("Every 15 minutes")
    HOUR = 60, _("Every hour")
    FOUR_HOURS = 240, _("Every 4 hours")
    DAY = 1440, _("Once a day")


class OfflineNotifySettings(models.Model):
    """How a member hears of left messages (留言) and unanswered chats while off duty
    (lifecycle.offline_notify). No row: the defaults below (Web Push on for the devices the member
    set up, the e-mail digest off)."""

    membership = models.OneToOneField("accounts.Membership", on_delete=models.CASCADE, related_name="offline_notify")
    push_enabled = models.BooleanField(_("Web Push"), default=True)
    push_interval = models.PositiveIntegerField(_("push at most"), choices=NotifyInterval.choices, default=NotifyInterval.QUARTER_HOUR)
    email_enabled = models.BooleanField(_("e-mail digest"), default=False)
    email_interval = models.PositiveIntegerField(_("e-mail at most"), choices=NotifyInterval.choices, default=NotifyInterval.HOUR)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("offline notification settings")
        verbose_name_plural = _("offline notification settings")


class OfflineNotice(models.Model):
    """The last notice a member got on one channel: what it covered and when the next may go. Moved
    only by a conditional UPDATE (lifecycle.offline_notify.claim), so two schedulers never both send."""

    class Channel(models.TextChoices):
        PUSH = "push", _("Web Push")
        EMAIL = "email", _("E-mail")

    membership = models.ForeignKey("accounts.Membership", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    # Chats that arrived up to this moment were in a notice (or arrived before the member wanted any).
    covered_until = models.DateTimeField()
    next_allowed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["membership", "channel"], name="one_offline_notice_per_channel")]

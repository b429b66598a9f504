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

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("chat.Conversation", on_delete=models.CASCADE, related_name="+", verbose_name=_("conversation"))
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

"""Outside messaging channels (WeChat Official Account, Mini Program, WeCom 微信客服): the account
behind an inbox, who a channel's user is, what went out and how it ended, shared access tokens and
the WeCom sync cursor. docs/channels.md describes the layer; connectors/base.py its contract."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from chat.models import Inbox

from . import secrets

# The inbox kinds this app serves (every inbox of these kinds needs a ChannelAccount).
CHANNEL_KINDS = (Inbox.Kind.WECHAT_OA, Inbox.Kind.WECHAT_MP, Inbox.Kind.WECOM_KF)


class ChannelAccount(models.Model):
    """The channel credentials of one inbox whose kind is a WeChat kind. Secrets are stored
    encrypted (connectors.secrets) and never shown back in full."""

    class Mode(models.TextChoices):
        PLAIN = "plain", _("Plain text")
        COMPATIBLE = "compatible", _("Compatible")
        SAFE = "safe", _("Safe (encrypted)")

    inbox = models.OneToOneField("chat.Inbox", on_delete=models.CASCADE, related_name="channel_account", verbose_name=_("inbox"))
    # Official Account / Mini Program: AppID and AppSecret; WeCom: the corp id and the kf Secret.
    app_id = models.CharField(_("AppID / CorpID"), max_length=64)
    app_secret_encrypted = models.TextField(_("AppSecret"), blank=True)
    token = models.CharField(_("callback Token"), max_length=64, help_text=_("The Token set on WeChat's server configuration page."))
    aes_key_encrypted = models.TextField(_("EncodingAESKey"), blank=True)
    mode = models.CharField(_("message encryption"), max_length=12, choices=Mode.choices, default=Mode.SAFE)
    open_kfid = models.CharField(_("customer service account (open_kfid)"), max_length=64, blank=True,
                                 help_text=_("WeCom customer service only."))
    # WeChat's reply rules (they have changed before): replies allowed within this many hours of the
    # customer's last message, at most this many per customer message.
    reply_window_hours = models.PositiveSmallIntegerField(_("reply window (hours)"), default=48)
    replies_per_message = models.PositiveSmallIntegerField(_("replies per customer message"), default=5)
    welcome_on_subscribe = models.BooleanField(_("welcome new followers"), default=True,
                                               help_text=_("Send the inbox's welcome line when someone follows the official account."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("channel account")
        verbose_name_plural = _("channel accounts")

    def __str__(self):
        return f"{self.inbox} ({self.app_id})"

    @property
    def app_secret(self):
        return secrets.decrypt(self.app_secret_encrypted)

    @app_secret.setter
    def app_secret(self, value):
        self.app_secret_encrypted = secrets.encrypt(value)

    @property
    def aes_key(self):
        return secrets.decrypt(self.aes_key_encrypted)

    @aes_key.setter
    def aes_key(self, value):
        self.aes_key_encrypted = secrets.encrypt(value)


class ChannelUser(models.Model):
    """A channel's user (openid, and unionid when WeChat gives it) as a customer of the workspace."""

    inbox = models.ForeignKey("chat.Inbox", on_delete=models.CASCADE, related_name="channel_users")
    customer = models.ForeignKey("chat.Customer", on_delete=models.CASCADE, related_name="channel_users")
    external_id = models.CharField(_("openid / external user id"), max_length=128)
    union_id = models.CharField(_("unionid"), max_length=128, blank=True)
    # When the customer last wrote (the reply window starts here) and replies sent since.
    last_inbound_at = models.DateTimeField(_("last message from the customer"), null=True, blank=True)
    replies_since_inbound = models.PositiveSmallIntegerField(_("replies since"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("channel user")
        verbose_name_plural = _("channel users")
        constraints = [models.UniqueConstraint(fields=["inbox", "external_id"], name="uniq_channel_user")]
        indexes = [models.Index(fields=["union_id"], condition=~models.Q(union_id=""), name="channel_user_union")]


class InboundEvent(models.Model):
    """A callback event already handled (subscribe, enter_session, ...): WeChat retries a callback up
    to 3 times; messages are deduplicated by their client_msg_id (the MsgId), events here."""

    inbox = models.ForeignKey("chat.Inbox", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["inbox", "key"], name="uniq_inbound_event")]


class OutboundMessage(models.Model):
    """One agent message on its way to the channel: written in the message's transaction, sent by
    the worker (connectors.outbound), retried on transient errors, failed with WeChat's code on
    permanent ones; the agent sees the state and may retry."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    message = models.OneToOneField("chat.Message", on_delete=models.CASCADE, related_name="outbound")
    inbox = models.ForeignKey("chat.Inbox", on_delete=models.CASCADE, related_name="+")
    channel_user = models.ForeignKey(ChannelUser, on_delete=models.CASCADE, related_name="outbound")
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # One agent message can take several WeChat sends (an image, then its caption): a retry
    # resumes after the parts already delivered instead of sending them again.
    parts_sent = models.PositiveSmallIntegerField(_("parts sent"), default=0)
    errcode = models.IntegerField(_("WeChat error code"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        indexes = [models.Index(fields=["state", "created_at"], name="outbound_state")]


class AccessToken(models.Model):
    """WeChat's access_token (2 h) for one account, shared by every process; refreshed by one at a
    time (the row is locked while refreshing)."""

    key = models.CharField(max_length=120, unique=True)  # e.g. "oa:<appid>", "kf:<corpid>"
    token = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class KfCursor(models.Model):
    """WeCom kf/sync_msg position per customer-service account: advanced only together with storing
    the batch it covers (the row is locked while a batch is pulled), so no batch is consumed twice or skipped."""

    account = models.OneToOneField(ChannelAccount, on_delete=models.CASCADE, related_name="kf_cursor")
    cursor = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

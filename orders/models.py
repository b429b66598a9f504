"""Vouchers and orders a customer shows at the counter, and their verification.

Every write to a voucher's state goes through orders.actions (lock, rules, audit)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Voucher(models.Model):
    class Kind(models.TextChoices):
        VOUCHER = "voucher", _("Voucher")
        ORDER = "order", _("Order")

    class Status(models.TextChoices):
        VALID = "valid", _("Valid")
        VERIFIED = "verified", _("Verified")
        VOID = "void", _("Void")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="vouchers", verbose_name=_("workspace"))
    customer = models.ForeignKey(
        "chat.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="vouchers", verbose_name=_("customer")
    )
    code = models.CharField(_("code"), max_length=64)
    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.VOUCHER)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.VALID)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("verified by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("voucher or order")
        verbose_name_plural = _("vouchers and orders")
        # The unique constraint is also the (workspace, code) index every lookup uses
        # (a unique index on SQLite and PostgreSQL); a second plain index would duplicate it.
        constraints = [models.UniqueConstraint(fields=["workspace", "code"], name="uniq_voucher_code")]

    def __str__(self):
        return f"{self.code} · {self.title}"

    @property
    def is_expired(self):
        return self.valid_until is not None and self.valid_until <= timezone.now()

    @property
    def can_be_verified(self):
        return self.status == self.Status.VALID and not self.is_expired

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts import roles
from accounts.admin_scope import WorkspaceScopedAdmin

from .models import Voucher


class VoucherForm(forms.ModelForm):
    """Founders and admins create vouchers and may void them; "verified" is set only by
    orders.actions.verify_voucher (lock, rules, audit), never by hand here."""

    class Meta:
        model = Voucher
        fields = ["workspace", "code", "title", "kind", "status", "valid_until", "customer"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "status" in self.fields:
            self.fields["status"].choices = [(v, label) for v, label in Voucher.Status.choices if v != Voucher.Status.VERIFIED]

    def _workspace_id(self):
        if self.instance.pk:
            return self.instance.workspace_id
        workspace = self.cleaned_data.get("workspace")
        return workspace.pk if workspace is not None else None

    def clean_code(self):
        code = self.cleaned_data["code"].strip()
        if not code:
            raise forms.ValidationError(_("Enter a code."))
        return code

    def clean(self):
        cleaned = super().clean()
        workspace_id, code = self._workspace_id(), cleaned.get("code")
        if workspace_id is None:
            return cleaned
        # On change the workspace is read-only, so model validation skips the (workspace, code) constraint.
        if self.instance.pk and code and Voucher.objects.filter(workspace_id=workspace_id, code=code).exclude(pk=self.instance.pk).exists():
            self.add_error("code", _("This workspace already has a voucher or order with this code."))
        return cleaned


@admin.register(Voucher)
class VoucherAdmin(WorkspaceScopedAdmin):
    capability = roles.CONFIGURE
    form = VoucherForm
    list_display = ["code", "title", "kind", "status", "valid_until", "verified_at", "verified_by", "workspace"]
    list_filter = ["status", "kind", "workspace"]
    search_fields = ["code", "title"]
    list_select_related = ["workspace", "verified_by"]
    raw_id_fields = ["customer"]  # scoped by WorkspaceScopedAdmin: a typed id of another workspace is neither named nor saved
    ordering = ["-created_at"]
    audit_name = "voucher"

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["verified_at", "verified_by"]
        fields = ["workspace", "verified_at", "verified_by", "created_at"]
        if obj.status == Voucher.Status.VERIFIED:  # a verified voucher stays verified
            fields += ["code", "status"]
        return fields

    def get_fields(self, request, obj=None):
        fields = ["workspace", "code", "title", "kind", "status", "valid_until", "customer", "verified_at", "verified_by"]
        return fields + ["created_at"] if obj is not None else fields


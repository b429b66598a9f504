"""Channel accounts in the admin: the owner connects a WeChat inbox (AppID, secret, Token,
EncodingAESKey, mode) and copies the callback URL into WeChat's back office.

Scoped like every admin page (workspaces where the user may CONFIGURE). Secrets are write-only
(connectors.forms) and never reach a page, the audit log or the history: the audit row says
which secret changed, not its value."""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from accounts import actions as account_actions
from accounts.admin_scope import WorkspaceScopedAdmin, acting

from . import secrets
from .forms import ChannelAccountForm
from .models import ChannelAccount

CALLBACK_URL_NAME = "connectors:wechat-callback"  # connectors/urls.py
SECRET_FIELDS = ("app_secret", "aes_key")

# Where each kind's callback URL goes (shown above the form).
WHERE_TO_PASTE = {
    "wechat_oa": _("Official account back office (公众号后台) → 设置与开发 → 基本配置 → 服务器配置: URL, Token, EncodingAESKey, 消息加解密方式; then enable it."),
    "wechat_mp": _("Mini program back office (小程序后台) → 开发 → 开发管理 → 开发设置 → 消息推送: URL, Token, EncodingAESKey, 数据格式 XML."),
    "wecom_kf": _("WeCom admin (企业微信管理后台) → 应用管理 → 微信客服 → API → 回调配置: URL, Token, EncodingAESKey."),
}


def callback_path(inbox):
    """The path WeChat calls for this inbox, or "" while the callback view is not routed."""
    try:
        return reverse(CALLBACK_URL_NAME, args=[inbox.public_key])
    except NoReverseMatch:
        return ""


@admin.register(ChannelAccount)
class ChannelAccountAdmin(WorkspaceScopedAdmin):
    form = ChannelAccountForm
    workspace_path = "inbox__workspace"
    list_display = ["inbox", "kind", "app_id", "mode", "secret_stored", "updated_at"]
    list_select_related = ["inbox"]
    search_fields = ["inbox__name", "app_id"]
    change_form_template = "admin/connectors/channelaccount/change_form.html"
    fieldsets = [
        (None, {"fields": ["inbox", "app_id", "app_secret", "token", "aes_key", "mode", "open_kfid"]}),
        (_("WeChat's reply rules"), {"fields": ["reply_window_hours", "replies_per_message", "welcome_on_subscribe"]}),
    ]

    @admin.display(description=_("kind"))
    def kind(self, obj):
        return obj.inbox.get_kind_display()

    @admin.display(description=_("AppSecret"))
    def secret_stored(self, obj):
        value = obj.app_secret
        return secrets.masked(value) if value else "—"

    def get_readonly_fields(self, request, obj=None):
        # The inbox of a stored account is fixed: the callback URL WeChat holds names it.
        return ["inbox"] if obj is not None else []

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            path = callback_path(obj.inbox)
            context.update(callback_url=request.build_absolute_uri(path) if path else "",
                           where_to_paste=WHERE_TO_PASTE.get(obj.inbox.kind, ""))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        # Saved without the base class's audit, which would copy the typed secret into the log.
        admin.ModelAdmin.save_model(self, request, obj, form, change)
        changed = [name for name in form.changed_data if name not in SECRET_FIELDS or form.cleaned_data.get(name)]
        if change and not changed:
            return
        before = {name: str(form.initial.get(name)) for name in changed if name not in SECRET_FIELDS} if change else {}
        after = {name: ("(changed)" if name in SECRET_FIELDS else str(form.cleaned_data.get(name))) for name in changed}
        account_actions.audit(acting(request, obj.inbox.workspace_id), f"channel_account.{'change' if change else 'add'}",
                              target=obj, before=before, after=after)

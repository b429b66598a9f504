"""Follow-up jobs in the owners' admin: read-only, filtered by state and kind, so a failed job
(the bot's answer, a hosting line, a push) is visible with its error and can be run again."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.admin_scope import WorkspaceScopedAdmin

from .models import FollowUp


@admin.register(FollowUp)
class FollowUpAdmin(WorkspaceScopedAdmin):
    read_only = True
    list_display = ["kind", "conversation", "state", "attempts", "last_error", "created_at", "done_at"]
    list_filter = ["state", "kind"]
    ordering = ["-id"]
    list_select_related = ["conversation__customer"]
    actions = ["retry"]

    @admin.action(description=_("Run the selected failed jobs again"))
    def retry(self, request, queryset):
        count = queryset.filter(state=FollowUp.State.FAILED).update(state=FollowUp.State.PENDING, attempts=0, run_after=timezone.now())
        self.message_user(request, _("Jobs that will run again: %(n)d") % {"n": count}, messages.SUCCESS)

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        # Read-only for editing, but a capable owner may still re-queue failed jobs.
        actions = super().get_actions(request)
        if not self.workspace_ids(request):
            actions.pop("retry", None)
        return actions

from django.contrib import admin

from .models import Conversation, ConversationEvent, Customer, Inbox, Message


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "kind", "public_key", "bot_first"]
    list_filter = ["kind", "workspace"]
    readonly_fields = ["public_key"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "workspace", "external_id", "created_at"]
    search_fields = ["name", "external_id"]
    list_select_related = ["workspace"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ["seq", "sender_kind", "sender_name", "msg_type", "body", "is_private", "recalled_at", "created_at"]
    readonly_fields = fields


class EventInline(admin.TabularInline):
    model = ConversationEvent
    extra = 0
    can_delete = False
    fields = ["kind", "from_state", "to_state", "actor_kind", "actor_user", "created_at"]
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-mostly: conversation writes go through chat.actions (seq, events, fan-out)."""

    list_display = ["pk", "inbox", "customer", "state", "assignee", "last_message_at"]
    list_filter = ["state", "inbox"]
    list_select_related = ["inbox", "customer", "assignee"]
    readonly_fields = ["workspace", "inbox", "customer", "state", "last_seq", "first_response_at", "resolved_at", "entry_page"]
    exclude = ["assignee", "group"]
    inlines = [MessageInline, EventInline]

    def has_add_permission(self, request):
        return False

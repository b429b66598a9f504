from django.urls import path

from . import api

urlpatterns = [
    path("api/v1/members", api.MemberListView.as_view(), name="api-members"),
    path("api/v1/members/<int:membership_id>", api.MemberDetailView.as_view(), name="api-member"),
    path("api/v1/inboxes/<int:inbox_id>/members/<int:membership_id>", api.InboxAccessView.as_view(), name="api-inbox-access"),
    path("api/v1/tokens", api.TokenListView.as_view(), name="api-tokens"),
    path("api/v1/tokens/<int:token_id>", api.TokenDetailView.as_view(), name="api-token"),
]

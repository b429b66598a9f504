from django.urls import path

from . import api, upload_views, views

app_name = "chat"

urlpatterns = [
    path("demo/", views.customer_demo, name="customer-demo"),
    path("demo/agent/", views.agent_demo, name="agent-demo"),
    path("api/v1/customer/session", api.CustomerSessionView.as_view(), name="api-customer-session"),
    path("api/v1/customer/messages", api.CustomerMessagesView.as_view(), name="api-customer-messages"),
    path("api/v1/conversations", api.ConversationListView.as_view(), name="api-conversations"),
    path("api/v1/conversations/<int:conversation_id>/messages", api.ConversationMessagesView.as_view(), name="api-messages"),
    path("api/v1/conversations/<int:conversation_id>/read", api.ConversationReadView.as_view(), name="api-read"),
    path("api/v1/conversations/<int:conversation_id>/state", api.ConversationStateView.as_view(), name="api-state"),
    path("api/v1/uploads", upload_views.UploadView.as_view(), name="api-uploads"),
    path("media/<path:path>", upload_views.serve_media, name="media"),
]

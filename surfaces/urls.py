from django.urls import path

from . import demo as views
from .api import uploads as upload_views
from .api import views as api
from .console import push_views as console_push_views
from .widget import api as widget_api
from .widget import views as widget_views

app_name = "chat"

urlpatterns = [
    path("widget/frame/", widget_views.frame, name="widget-frame"),
    path("widget/chat/", widget_views.full_page, name="widget-page"),
    path("widget/demo/", widget_views.demo_host, name="widget-demo"),
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
    # The console as an installable app with Web Push (chat/console_push_views.py)
    path("console/sw.js", console_push_views.service_worker, name="console-sw"),
    path("console/manifest.webmanifest", console_push_views.manifest, name="console-manifest"),
    path("console/push/subscriptions", console_push_views.subscriptions, name="console-push-subscriptions"),
    path("console/push/test/", console_push_views.push_test, name="console-push-test"),
]

# The customer widget's own endpoints (surfaces/widget/api.py; docs/protocol.md, "Widget endpoints")
urlpatterns += [
    path("api/v1/customer/inbox", widget_api.CustomerInboxView.as_view(), name="api-customer-inbox"),
    path("api/v1/customer/visits", widget_api.CustomerVisitsView.as_view(), name="api-customer-visits"),
    path("api/v1/customer/profile", widget_api.CustomerProfileView.as_view(), name="api-customer-profile"),
    path("api/v1/customer/conversations/<int:conversation_id>/rating", widget_api.ConversationRatingView.as_view(), name="api-customer-rating"),
    path("api/v1/customer/conversations/<int:conversation_id>/contact", widget_api.ConversationContactView.as_view(), name="api-customer-contact"),
    path("api/v1/customer/conversations/<int:conversation_id>/handoff", widget_api.ConversationHandoffView.as_view(), name="api-customer-handoff"),
    path("api/v1/customer/conversations/<int:conversation_id>/bot-feedback", widget_api.ConversationBotFeedbackView.as_view(),
         name="api-customer-bot-feedback"),
    path("api/v1/customer/help/search", widget_api.HelpSearchView.as_view(), name="api-customer-help-search"),
]

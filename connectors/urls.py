from django.urls import path

from . import console_views, media_views, views

app_name = "connectors"

urlpatterns = [
    # WeChat's callback URL of one inbox (set on the official account's / mini program's / WeCom's server configuration page)
    path("wechat/<str:public_key>/", views.callback, name="wechat-callback"),
    # A channel user's image / voice / video, as message attachments name it (connectors.inbound.media_url)
    path("media/<str:public_key>/<str:media_id>", media_views.channel_media, name="media"),
    path("console/messages/<int:message_id>/retry/", console_views.retry_outbound, name="outbound-retry"),  # console: send a failed message again
]

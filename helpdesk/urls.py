from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.shortcuts import redirect
from drf_spectacular.views import SpectacularAPIView

from accounts import views as account_views


def home(request):
    """The demo shop with the demo pages on (`make run`), else the login page (read per request, not
    when the URLs are loaded)."""
    return redirect("chat:widget-demo" if settings.DEMO_PAGES else "login")


urlpatterns = [
    path("", home),
    path("admin/", admin.site.urls),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", account_views.LogoutView.as_view(), name="logout"),  # also closes that session's sockets
    path("accounts/", include("accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("accounts.api_urls")),
    path("", include("orders.urls")),
    path("console/", include("surfaces.console.urls")),
    path("help/", include("knowledge.urls")),  # the public help center (knowledge/views.py)
    path("channels/", include("connectors.urls")),  # WeChat callbacks and channel media (connectors/views.py)
    path("", include("surfaces.urls")),
]

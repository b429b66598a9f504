from django.urls import path

from . import invite_views, views

app_name = "accounts"

urlpatterns = [
    path("home/", views.home, name="home"),
    path("invite/<str:secret>/", invite_views.accept, name="invite-accept"),
    path("2fa/verify/", views.verify, name="2fa-verify"),
    path("2fa/setup/", views.setup, name="2fa-setup"),
    path("password/change/", views.password_change, name="password-change"),
    path("password/change/done/", views.password_change_done, name="password-change-done"),
]

from django.urls import path

from . import views

app_name = "orders"

urlpatterns = [
    path("verify/", views.verify, name="verify"),
]

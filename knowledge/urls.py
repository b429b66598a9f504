"""The public help center, per workspace: /help/<workspace slug>/<locale>/... (included at
help/ from helpdesk/urls.py). The locale is a path segment so every language version has
its own URL for search engines (hreflang alternates, sitemap)."""

from django.urls import path, register_converter

from . import views


class LocaleConverter:
    regex = "zh-hans|zh-hant|en"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(LocaleConverter, "hclocale")

app_name = "knowledge"

urlpatterns = [
    path("<slug:workspace>/", views.help_root, name="root"),
    path("<slug:workspace>/sitemap.xml", views.sitemap, name="sitemap"),
    path("<slug:workspace>/<hclocale:locale>/", views.home, name="home"),
    path("<slug:workspace>/<hclocale:locale>/search/", views.search_page, name="search"),
    path("<slug:workspace>/<hclocale:locale>/search.json", views.search_json, name="search-json"),
    path("<slug:workspace>/<hclocale:locale>/categories/<slug:category>/", views.category, name="category"),
    path("<slug:workspace>/<hclocale:locale>/articles/<slug:article>/", views.article, name="article"),
    path("<slug:workspace>/<hclocale:locale>/articles/<slug:article>/vote", views.vote, name="vote"),
]

from django.urls import path

from kb import api, views

app_name = "kb"

urlpatterns = [
    path("", views.search_page, name="home"),
    path("search/", views.search_page, name="search"),
    path("entries/new/", views.entry_create, name="entry_create"),
    path("entries/similar/", views.similar_entries, name="similar"),
    path("entries/<int:pk>/", views.entry_detail, name="entry"),
    path("entries/<int:pk>/edit/", views.entry_edit, name="entry_edit"),
    path("entries/<int:pk>/state/", views.entry_state, name="entry_state"),
    path("entries/<int:pk>/reuse/", views.entry_reuse, name="reuse"),
    path("entries/<int:pk>/thanks/", views.entry_thanks, name="thanks"),
    path("entries/<int:pk>/history/", views.entry_history, name="history"),
    path("entries/<int:pk>/history/compare/", views.revision_compare, name="compare"),
    path("entries/<int:pk>/history/<int:number>/", views.revision_detail, name="revision"),
    path(
        "entries/<int:pk>/history/<int:number>/restore/",
        views.revision_restore,
        name="revision_restore",
    ),
    path("preview/", views.markdown_preview, name="preview"),
    path("review/synonyms/", views.synonyms_edit, name="synonyms"),
    path("api/v1/search", api.search_api, name="api_search"),
]

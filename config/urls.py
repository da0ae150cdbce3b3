from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("kb.urls")),
]

handler404 = "kb.errors.not_found"
handler500 = "kb.errors.server_error"

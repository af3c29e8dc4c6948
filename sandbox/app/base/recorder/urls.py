from django.contrib import admin
from django.urls import path

from apps.accounts import views as account_views
from recorder import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("healthz/", views.healthz),
    path("workshops/", views.workshop_list, name="workshop-list"),
    path("teachers/<str:username>/", views.teacher_detail, name="teacher-detail"),
    path("auth/login/", account_views.login, name="api-login"),
    path("auth/profile/admin/", account_views.admin_profile, name="api-admin-profile"),
    path("admin/", admin.site.urls),
]

from django.urls import path

from people import views

urlpatterns = [
    path("health/", views.health),
    path("api/token/", views.token),
    path("api/profile/<int:pk>/", views.profile),
]

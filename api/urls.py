from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import views

app_name = "api"

urlpatterns = [
    path("matches/", views.MatchesView.as_view(), name="matches"),
    path("products/", views.ProductsView.as_view(), name="products"),
    path("products/<str:key>/", views.ProductDetailView.as_view(), name="product"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]

from django.urls import path

from validation import views

app_name = "validation"
urlpatterns = [
    path("review/", views.review, name="review"),
    path("review/next/", views.prefetch, name="prefetch"),
    path("review/judge/", views.judge, name="judge"),
    path("review/skip/", views.skip, name="skip"),
    path("review/undo/", views.undo, name="undo"),
    path("review/feedback/", views.feedback, name="feedback"),
    path("runs/", views.runs, name="runs"),
    path("throughput/", views.throughput, name="throughput"),
    path("runs/<int:run_id>/triage/", views.triage, name="triage"),
    path("runs/<int:run_id>/quality/", views.quality_page, name="quality"),
    path("runs/<int:run_id>/export/", views.export, name="export"),
    path("exports/<int:export_id>/download/", views.download_export, name="download"),
]

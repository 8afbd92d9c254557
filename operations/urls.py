from django.urls import path

from operations import views

app_name = "operations"
urlpatterns = [
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/new/match/", views.start_match, name="start_match"),
    path("jobs/new/train/", views.start_train, name="start_train"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("jobs/<int:job_id>/cancel/", views.cancel, name="cancel"),
    path("jobs/for-run/<int:run_id>/", views.job_for_run, name="job_for_run"),
]

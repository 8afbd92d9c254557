from django.apps import AppConfig


class ValidationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "validation"
    verbose_name = "Validation (review, votes, quality)"

    def ready(self) -> None:
        # training on verdicts (matching) asks which review rows meet a gold-accuracy floor;
        # only validation knows the validators, so it answers (matching never imports it)
        from matching.services import training_labels
        from validation.selectors.gold_floor import trusted_review_rows

        training_labels.register_review_row_guard(trusted_review_rows)

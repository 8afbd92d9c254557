from __future__ import annotations

from django import forms

from validation.routing import DEFAULT_TARGET_PRECISION


class JudgeForm(forms.Form):
    lease = forms.IntegerField(min_value=1)
    slot = forms.IntegerField(min_value=0, max_value=9)


class LeaseForm(forms.Form):
    lease = forms.IntegerField(min_value=1)


class RoutingForm(forms.Form):
    accept = forms.FloatField(required=False, help_text="empty: suggested (or none)")
    review = forms.FloatField(required=False, help_text="empty: suggested")
    target_precision = forms.FloatField(
        min_value=0.0, max_value=1.0, initial=DEFAULT_TARGET_PRECISION
    )

"""The two start forms. Every check names what is wrong (which shop, which model, which
value), so an admin can fix the input without reading a traceback."""

from __future__ import annotations

import re
from pathlib import Path

from django import forms
from django.conf import settings

from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.training import TrainConfig
from matching.models import ProjectionModel
from operations import selectors
from validation.routing import DEFAULT_TARGET_PRECISION

FEATURE_CHOICES = [
    ("image+text+numeric", "image + text + numeric"),
    ("image+text", "image + text"),
    ("text+numeric", "text + numeric"),
    ("text", "text"),
    ("image", "image"),
]
#: where training labels come from; issue 12.1 adds ("verdicts", ...) here and to the service
LABEL_SOURCES = [
    ("product_ids", "product ids (the catalogue's own ground truth)"),
    ("verdicts", "validators' verdicts (decided review rows, product clusters; hard negatives)"),
]
IMAGE_SPEC = re.compile(r"^(efficientnet-lite[012]|timm:\S+|open_clip:\S+)$")
TEXT_SPEC = re.compile(r"^(canonical:)?(minilm|sentence-transformers:\S+|open_clip:\S+)$")
UNKNOWN_SHOP = "unknown shop “%(value)s”"


def _shop_field(label: str) -> forms.ChoiceField:
    return forms.ChoiceField(label=label, error_messages={"invalid_choice": UNKNOWN_SHOP})


class _EncoderFields(forms.Form):
    image_encoder = forms.CharField(
        initial=DEFAULT_IMAGE_ENCODER,
        required=False,
        help_text="for image features without a model: efficientnet-lite0, timm:…, open_clip:…",
    )
    text_encoder = forms.CharField(
        initial=DEFAULT_TEXT_ENCODER,
        required=False,
        help_text="for text features without a model: minilm, sentence-transformers:…",
    )

    def _specs_for(self, features: str) -> tuple[str | None, str | None]:
        """The encoder specs the features need; errors on the fields when one is malformed."""
        image = (self.cleaned_data.get("image_encoder") or DEFAULT_IMAGE_ENCODER).strip()
        text = (self.cleaned_data.get("text_encoder") or DEFAULT_TEXT_ENCODER).strip()
        blocks = features.split("+")
        if "image" in blocks and not IMAGE_SPEC.match(image):
            self.add_error(
                "image_encoder",
                f"unknown image encoder “{image}”: use efficientnet-lite0/1/2, timm:<model> or "
                "open_clip:<model>",
            )
        if "text" in blocks and not TEXT_SPEC.match(text):
            self.add_error(
                "text_encoder",
                f"unknown text encoder “{text}”: use minilm, sentence-transformers:<name> or "
                "open_clip:<model> (canonical:<spec> normalises titles first)",
            )
        return (image if "image" in blocks else None, text if "text" in blocks else None)

    def _check_images(self, features: str, shops: list[str], why: str) -> None:
        if "image" not in features.split("+"):
            return
        for shop in selectors.shops_without_images(shops):
            self.add_error(None, f"{why} uses image features, but shop “{shop}” has no images")


class MatchChainForm(_EncoderFields):
    """encode what is pending -> match -> route, for one query shop against one index shop."""

    query_shop = _shop_field("Query shop")
    index_shop = _shop_field("Index shop")
    model = forms.CharField(
        initial="raw",
        widget=forms.Select,
        help_text="a ready projection model, or raw embeddings",
    )
    features = forms.ChoiceField(
        choices=[("", "the model's features"), *FEATURE_CHOICES],
        required=False,
        help_text="raw embeddings only (a model brings its own)",
    )
    since = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="only offers created on or after this date (both shops)",
    )
    new_only = forms.BooleanField(
        required=False, help_text="only query offers without a decision yet (the daily run)"
    )
    accept = forms.FloatField(required=False, help_text="empty: suggested from the run")
    review = forms.FloatField(required=False, help_text="empty: suggested from the run")
    target_precision = forms.FloatField(
        initial=DEFAULT_TARGET_PRECISION,
        help_text="precision the suggested accept threshold aims for, between 0 and 1",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        shops = selectors.shop_choices()
        self.fields["query_shop"].choices = shops
        self.fields["index_shop"].choices = shops
        self.fields["model"].widget.choices = [
            ("raw", "raw embeddings (no model)"),
            *selectors.ready_model_choices(),
        ]
        self._model: ProjectionModel | None = None

    def clean_model(self) -> ProjectionModel | None:
        value = (self.cleaned_data.get("model") or "raw").strip()
        if value == "raw":
            return None
        if not value.isdigit():
            raise forms.ValidationError(f"unknown model “{value}”: choose a model id or raw")
        model = ProjectionModel.objects.filter(pk=int(value)).first()
        if model is None:
            raise forms.ValidationError(f"there is no projection model #{value}")
        if model.status != ProjectionModel.Status.READY:
            raise forms.ValidationError(
                f"projection model #{model.pk} is {model.status}, not ready: choose a ready "
                "model or raw"
            )
        if not model.weights_path or not (Path(settings.MEDIA_ROOT) / model.weights_path).is_file():
            raise forms.ValidationError(
                f"projection model #{model.pk} has no weights file: train it again or use raw"
            )
        return model

    def clean_target_precision(self) -> float:
        value = self.cleaned_data["target_precision"]
        if not 0.0 < value < 1.0:
            raise forms.ValidationError(
                f"the target precision must lie strictly between 0 and 1 (e.g. 0.95), not {value}"
            )
        return value

    def clean(self) -> dict:
        data = super().clean()
        query, index = data.get("query_shop"), data.get("index_shop")
        if query and index and query == index:
            self.add_error("index_shop", "the index shop must differ from the query shop")
        accept, review = data.get("accept"), data.get("review")
        if accept is not None and review is not None and accept < review:
            self.add_error("accept", "the accept threshold must be at least the review threshold")
        if "model" not in data:
            return data
        model = data["model"]
        if model is not None:
            if data.get("features") and data["features"] != model.features:
                self.add_error(
                    "features",
                    f"model #{model.pk} was trained on {model.features}; leave features empty "
                    "or choose raw",
                )
            data["features"] = model.features
        elif not data.get("features"):
            self.add_error("features", "choose the features to match on raw embeddings")
            return data
        else:
            self._specs_for(data["features"])  # errors on malformed encoder specs
        if query and index and query != index:
            why = f"model #{model.pk}" if model is not None else "the raw match"
            self._check_images(data["features"], [query, index], why)
            since = data.get("since")
            if since and not selectors.has_offers(shop=query, since=since):
                self.add_error("since", f"shop “{query}” has no offers created on or after {since}")
        return data

    def job_params(self) -> dict:
        data = self.cleaned_data
        model = data["model"]
        if model is not None:
            image = model.image_encoder.spec if model.image_encoder else None
            text = model.text_encoder.spec if model.text_encoder else None
        else:
            image, text = self._specs_for(data["features"])
        return {
            "query_shop": data["query_shop"],
            "index_shop": data["index_shop"],
            "shops": [data["query_shop"], data["index_shop"]],
            "model": model.pk if model is not None else None,
            "features": data["features"],
            "image_spec": image,
            "text_spec": text,
            "since": data["since"].isoformat() if data.get("since") else None,
            "new_only": bool(data.get("new_only")),
            "accept": data.get("accept"),
            "review": data.get("review"),
            "target_precision": data["target_precision"],
        }


class TrainChainForm(_EncoderFields):
    """encode what is pending -> train a projection head."""

    train_shops = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": UNKNOWN_SHOP, "required": "choose at least one shop"},
    )
    before = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="train on offers created before this date (empty: all)",
    )
    features = forms.ChoiceField(choices=FEATURE_CHOICES, initial="image+text+numeric")
    label_sources = forms.MultipleChoiceField(
        choices=LABEL_SOURCES,
        initial=["product_ids"],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "choose at least one label source"},
    )
    min_gold_accuracy = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="verdicts only from rows whose validators meet this accuracy on gold rows "
        "(e.g. 0.9; empty: every decided row)",
        error_messages={
            "min_value": "the gold-accuracy floor is a fraction between 0 and 1",
            "max_value": "the gold-accuracy floor is a fraction between 0 and 1",
        },
    )
    epochs = forms.IntegerField(
        min_value=1, max_value=1000, initial=TrainConfig.epochs, help_text="a cap: early stopping"
    )
    name = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["train_shops"].choices = selectors.shop_choices()

    def clean(self) -> dict:
        data = super().clean()
        shops, features = data.get("train_shops"), data.get("features")
        if not shops or not features:
            return data
        self._specs_for(features)  # errors on malformed encoder specs
        self._check_images(features, shops, "the model")
        before = data.get("before")
        if data.get("min_gold_accuracy") is not None and "verdicts" not in (
            data.get("label_sources") or []
        ):
            self.add_error("min_gold_accuracy", "a gold-accuracy floor applies to verdicts only")
        if data.get("label_sources") == ["product_ids"] and not selectors.has_labelled_offers(
            shops=shops, before=before
        ):
            when = f" created before {before}" if before else ""
            self.add_error(
                None,
                f"no offer of {', '.join(shops)}{when} has a product id: there is nothing to "
                "train on with product ids",
            )
        return data

    def job_params(self) -> dict:
        data = self.cleaned_data
        image, text = self._specs_for(data["features"])
        return {
            "train_shops": list(data["train_shops"]),
            "shops": list(data["train_shops"]),
            "before": data["before"].isoformat() if data.get("before") else None,
            "features": data["features"],
            "image_spec": image,
            "text_spec": text,
            "labels": list(data["label_sources"]),
            "min_gold_accuracy": data.get("min_gold_accuracy"),
            "epochs": data["epochs"],
            "name": data.get("name", ""),
        }

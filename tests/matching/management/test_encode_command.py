import pytest
from django.core.management import CommandError, call_command

from matching.models import Offer, OfferEmbedding

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_encode_command_is_incremental(imported_cross_shop, specs, capsys):
    imported_cross_shop(n_products=3)
    args = ["--image-encoder", specs["image_spec"], "--workers", "0", "--no-progress"]
    call_command("encode", "--shops", "atelier", *args)
    out = capsys.readouterr().out
    n = Offer.objects.filter(shop__name="atelier").count()
    assert f"image {specs['image_spec']}" in out and f"{n} encoded" in out
    assert OfferEmbedding.objects.count() == 2 * n
    call_command("encode", *args)
    out = capsys.readouterr().out
    assert f"{Offer.objects.count() - n} needed encoding" in out


def test_encode_command_errors(imported_cross_shop):
    imported_cross_shop(n_products=1, images=False)
    with pytest.raises(CommandError, match="unknown shop"):
        call_command("encode", "--shops", "nowhere", "--no-progress")
    with pytest.raises(CommandError, match="unknown image encoder"):
        call_command("encode", "--image-encoder", "nonsense", "--no-progress")

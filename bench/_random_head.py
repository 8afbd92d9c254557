"""A stand-in projection model for timing a model run at scale (bench/match_scale.py
``--projection DIM``): a ProjectionModel whose head is an untrained random linear map (Gaussian
weights, no bias: a Johnson-Lindenstrauss projection, which roughly keeps cosines) from the
image + text embeddings to DIM dimensions. The match then runs the production path of a
trained model (load the blocks, project, search in DIM dimensions) at the same cost; its R@1
says nothing about a trained model's quality.
"""

from __future__ import annotations

from pathlib import Path


def random_head_model(*, image_spec: str, text_spec: str, dim: int, seed: int = 0) -> int:
    """The id of a new ready ProjectionModel ("image+text") with a random linear head."""
    import torch
    from django.conf import settings

    from matching import embedding_store as store
    from matching.ml.projection import ProjectionHead, save_projection
    from matching.models import ProjectionModel

    image = store.find_encoder(kind="image", spec=image_spec)
    text = store.find_encoder(kind="text", spec=text_spec)
    torch.manual_seed(seed)
    head = ProjectionHead(image.dim + text.dim, dim)
    with torch.no_grad():
        torch.nn.init.normal_(head.net.weight)
        head.net.bias.zero_()
    relative = f"models/scale-random-{dim}-{seed}.pt"
    (Path(settings.MEDIA_ROOT) / relative).parent.mkdir(parents=True, exist_ok=True)
    save_projection(head, Path(settings.MEDIA_ROOT) / relative)
    model = ProjectionModel.objects.create(
        name=f"random linear head {dim} (timing stand-in)",
        status=ProjectionModel.Status.READY,
        features="image+text",
        image_encoder=image,
        text_encoder=text,
        weights_path=relative,
        config={"dim": dim, "random_head": True},
    )
    return model.pk

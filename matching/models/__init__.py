"""Tables of the machine side, one module per kind of record (Django finds them through this
package): catalogue, embedding store, projection models and runs, verdicts and products."""

from matching.models.catalogue import ImportBatch, Offer, OfferImage, Shop
from matching.models.embeddings import EmbeddingChunk, Encoder, OfferEmbedding
from matching.models.products import (
    PairVerdict,
    Product,
    ProductConflict,
    ProductEvent,
    ProductMembership,
)
from matching.models.runs import Candidate, MatchRun, ProjectionModel

__all__ = [
    "Candidate",
    "EmbeddingChunk",
    "Encoder",
    "ImportBatch",
    "MatchRun",
    "Offer",
    "OfferEmbedding",
    "OfferImage",
    "PairVerdict",
    "Product",
    "ProductConflict",
    "ProductEvent",
    "ProductMembership",
    "ProjectionModel",
    "Shop",
]

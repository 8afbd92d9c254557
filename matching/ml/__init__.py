"""Plain machine-learning library for fashionID: encoders, features, training, retrieval, metrics.

Nothing here imports Django or the rest of the project; every function works on arrays and paths.
"""

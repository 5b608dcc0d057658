"""What the routers and the CLI call: each service turns a served model and a request's values
into a response's fields, using the pure methods in `app.viz` and the caches behind the registry.

    analysis.py      predictions and every layer's activations (HTTP and the live channel)
    explanations.py  any method of the method table, with the fields every explanation shares
    filters.py       filter patterns and atlases, cached per model file and parameters
    dataset.py       reference images: top examples, nearest neighbours, the t-SNE map
"""

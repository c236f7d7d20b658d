"""Data: what every kind of data shares (loaders, the resumable sampler, splits and label
budgets, digests, the cached-feature module) here; sources, readers and data modules per kind
of data in `image/` and `text/`, which never import each other."""

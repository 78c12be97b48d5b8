"""Image building on the worker (docs/IMAGES.md)."""

"""The built-in sky components, one per file (see model/component.py and model/registry.py)."""

"""The object model shared by every layer: keys, positions, diagnostics, desired objects."""

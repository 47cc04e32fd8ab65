"""Manifests in: loading a desired folder into validated, defaulted DesiredObjects and Diagnostics.

The first stage of the flow (sources -> manifests -> store). Entry points are in
reconciler.manifests.loader: `load_folder`, `load_paths` and `FolderLoader`.
Order of work per file: parse (limits, positions) -> document (kind, fields,
schema, defaults, semantic rules) -> crossfile (duplicates, targetPort names).
"""

"""What `get`, `describe` and the dashboard show: tables, cells and describe text from records.

Between the store's read side (`reconciler.store.reader.ReadStore`) and the two
front ends, `reconciler.cli` (click commands) and `reconciler.ui` (the web
dashboard): no click and no web framework here, so both render the same rows
and the same text. `output` holds the cell rules, `listings` one `Listing` per
resource, `sections` the describe building blocks, `describe` and
`describe_statefulset` the describe texts.
"""

"""The Kubernetes API served from the store, so kubectl and the client libraries work unchanged.

A front end beside the dashboard (`reconciler.ui`): below `reconciler.service`,
which starts it in a thread of `reconciler run` (`server.py`), and above
`reconciler.views` and `reconciler.store`, which it reads through. `app.py`
builds the Starlette application; `resources.py` is the table of kinds it
serves, `objects.py` turns store records into Kubernetes objects, `selectors.py`
and `tables.py` are the query and `as=Table` rules, `status.py` the errors.
Watch, logs, writes, authentication and OpenAPI live in their own modules,
gathered by `app.py` when present. It never imports `reconciler.cli` or click.
"""

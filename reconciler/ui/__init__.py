"""The web dashboard: a read-only view of the state store, served by `reconciler run` or `ui`.

`app` (Starlette routes) over `pages` (store reads through the CLI's read
path) over `views` (pure view models); `server` runs it with uvicorn.
"""

"""The web dashboard: a read-only view of the state store, served by `reconciler run` or `ui`.

`app` (Starlette routes) over `pages` (store reads through `reconciler.views`,
the tables and describe texts the CLI prints too) over `viewmodels` (pure view
models); `server` runs it with uvicorn.
"""

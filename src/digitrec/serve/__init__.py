"""``digitrec serve``: the model behind an HTTP API and a drawing page (FastAPI, uvicorn).

Build the app with :func:`digitrec.serve.app.create_app`; limits are in
:mod:`digitrec.serve.settings`.
"""

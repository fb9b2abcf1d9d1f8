"""The HTTP API for parties and originating processes (``party-orders api``).

``app.py`` builds the FastAPI app, ``routes.py`` holds its operations, ``auth.py`` who may
call what and see which order, ``keys.py`` the API keys, ``errors.py`` the TMF Error
answers, ``limits.py`` the body cap, ``schemas.py`` the few API-only bodies,
``portal.py`` the check-in page a party opens from its signed link (templates in
``templates/portal/``), and ``server.py`` runs it under uvicorn.
"""

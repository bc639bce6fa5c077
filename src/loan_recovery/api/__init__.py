"""The REST API (FastAPI): scoring, planning and the case store over HTTP, with API keys.

Build the app with :func:`loan_recovery.api.app.create_app`; run it with
``loan-recovery serve``.
"""

"""The REST API (FastAPI). Every error is `{"error": {"code", "message"}}` with a 4xx status."""

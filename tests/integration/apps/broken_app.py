"""Fails at import: the server must log the traceback (and exit with --need-app)."""
raise ImportError('broken-app-marker-999')

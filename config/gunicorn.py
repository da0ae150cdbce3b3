"""Gunicorn settings for `make serve` (``gunicorn -c config/gunicorn.py config.wsgi``).

``HOST`` and ``PORT`` say where to listen (``HOST=0.0.0.0`` behind a load balancer on
another machine), ``WEB_CONCURRENCY`` how many worker processes. Workers are synchronous
and single-threaded; each opens its own database connection and search index.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
timeout = 30  # a request running longer is killed and logged
graceful_timeout = 20
accesslog = "-"  # access and error logs to stdout/stderr, for the process manager
errorlog = "-"

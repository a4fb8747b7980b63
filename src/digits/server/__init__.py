"""``digits serve``: a draw-a-digit web page and a small JSON API over one shared :class:`~digits.inference.Predictor`.

The page is plain static files inside the package (no build step, no CDN), so the server works offline.
"""

from __future__ import annotations

from digits.server.app import MAX_UPLOAD_BYTES, create_app, serve

__all__ = ["MAX_UPLOAD_BYTES", "create_app", "serve"]

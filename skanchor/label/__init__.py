"""Label your own data: an interactive labelling session in the browser.

``skanchor label DATA --labels a,b,c`` embeds the texts once, builds the index once and
serves a page that shows one item at a time; a background worker retrains the model and
queries the next items with AnchorAL while the person labels, so the next item is always
ready. Every label is committed to a database (SQLite in the session folder, or PostgreSQL
for a team) before the next item is shown.

- :mod:`skanchor.label.config` — every default of a session
  (:class:`~skanchor.label.config.SessionConfig`);
- :mod:`skanchor.label.data` — the data file, seed labels, export files;
- :mod:`skanchor.label.db` — database URLs, engines and the schema;
- :mod:`skanchor.label.store` — :class:`~skanchor.label.store.LabelStore`, the single source
  of truth;
- :mod:`skanchor.label.worker` — :class:`~skanchor.label.worker.Worker`: retrain, query,
  refill the queue;
- :mod:`skanchor.label.session` — :func:`~skanchor.label.session.create_session`,
  :func:`~skanchor.label.session.open_session`, :func:`~skanchor.label.session.export_labels`;
- :mod:`skanchor.label.app` — the web app and :func:`~skanchor.label.app.serve`;
- :mod:`skanchor.label.cli` — the ``label`` and ``export`` commands.

The web and database libraries (Starlette, uvicorn, SQLAlchemy, psycopg) are imported when
a session is used: ``pip install "skanchor[label]"``.
"""

from skanchor.label.config import DEFAULTS, SessionConfig
from skanchor.label.session import (
    LabelSession,
    create_session,
    export_labels,
    open_session,
)
from skanchor.label.store import LabelStore

__all__ = [
    "DEFAULTS",
    "LabelSession",
    "LabelStore",
    "SessionConfig",
    "create_session",
    "export_labels",
    "open_session",
]

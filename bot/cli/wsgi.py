"""WSGI entry for an external gunicorn: `gunicorn 'bot.cli.wsgi:app'`."""
from ..config import load_config
from ..notes_keys import setup_notes_keys
from .wiring import create_app

_config = load_config().validate()
setup_notes_keys(_config)
app = create_app(_config)

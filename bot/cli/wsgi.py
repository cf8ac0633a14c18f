"""WSGI entry for an external gunicorn: `gunicorn 'bot.cli.wsgi:app'`."""
from ..app import create_app
from ..config import load_config
from ..notes_keys import setup_notes_keys

_config = load_config().validate()
setup_notes_keys(_config)
app = create_app(_config)

from services.events.app import create_app
from shared.http import serve

serve(create_app())

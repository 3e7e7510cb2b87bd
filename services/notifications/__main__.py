from services.notifications.app import create_app
from shared.http import serve

serve(create_app())

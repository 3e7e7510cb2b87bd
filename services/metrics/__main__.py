from services.metrics.app import create_app
from shared.http import serve

serve(create_app())

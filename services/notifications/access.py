"""Who may do what in the notifications API."""

from typing import Annotated

from shared.auth import Principal, Role, require_roles

Communicator = Annotated[Principal, require_roles(Role.COMMUNICATOR)]
# deliveries, sends and templates; a mail server's words (which may quote an address) and
# contacts are for communicators (and admins) only
DeliveryReader = Annotated[Principal, require_roles(Role.COMMUNICATOR, Role.ANALYST)]

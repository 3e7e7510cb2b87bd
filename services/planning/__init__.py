"""Planning: plans with their audiences, messages, channels and activities, and approval."""

# Map every table of the service whichever module is imported first: the plan aggregate's live
# in `plans` (beside its rules), the others in `tables`; migrations compare against all of them.
import services.planning.plans.model  # noqa: F401

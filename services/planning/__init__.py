"""Planning: plans with their audiences, messages, channels and activities, and approval."""

# Map every table of the service whichever module is imported first: the aggregates' live
# beside their rules (`plans.model`, `strategies.model`), the others in `tables`; migrations
# compare against all of them.
import services.planning.plans.model
import services.planning.strategies.model  # noqa: F401

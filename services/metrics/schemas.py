from pydantic import BaseModel


class PlanCounts(BaseModel):
    plan_id: str
    counts: dict[str, int]
    total: int

"""The strategies API's request and response models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, computed_field, field_validator

from services.planning.domain import NodeLevel, PlanStatus
from shared.contracts.metrics import attained
from shared.schemas import ApiInput
from shared.schemas import ApiOutput as _Out
from shared.time import PlanDate

MAX_TREE_NODES = 500


class NodeCreate(ApiInput):
    """A focus area (no parent), a track (under a focus area) or a sub-track (under a track)."""

    parent_id: str | None = None
    name: str = Field(min_length=1, max_length=300, examples=["Borgerdialog og borgerinddragelse"])
    description: str = Field("", max_length=20000)


class NodeTree(ApiInput):
    """A node with the nodes under it, to create a strategy's tree in one request."""

    name: str = Field(min_length=1, max_length=300, examples=["Strategisk kommunikation"])
    description: str = Field("", max_length=20000)
    children: list[NodeTree] = Field(default_factory=list, max_length=100)


class StrategyCreate(ApiInput):
    name: str = Field(min_length=1, max_length=300, examples=["Strategiplan 2013–2014"])
    organisation: str = Field(min_length=1, max_length=200, examples=["Silkeborg Kommune"])
    vision: str = Field(
        min_length=1,
        max_length=20000,
        examples=["Silkeborg Kommune er anerkendt som en synlig, kompetent og innovativ kommune"],
    )
    values: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20, examples=[["Dialog", "Dynamik", "Kvalitet"]]
    )
    period_start: PlanDate
    period_end: PlanDate
    focus_areas: list[NodeTree] = Field(
        default_factory=list,
        max_length=20,
        description=f"Optional: the tree of focus areas → tracks (children) → sub-tracks; at "
        f"most {MAX_TREE_NODES} nodes in all.",
    )

    @field_validator("focus_areas")
    @classmethod
    def _a_tree_of_bounded_size(cls, focus_areas: list[NodeTree]) -> list[NodeTree]:
        """A bounded count, checked before any work on the tree: a body of a megabyte could
        otherwise hold tens of thousands of nodes. (Its depth is a rule: see the commands.)"""
        count, level = 0, focus_areas
        while level and count <= MAX_TREE_NODES:
            count += len(level)
            level = [child for node in level for child in node.children]
        if count > MAX_TREE_NODES:
            raise ValueError(f"a strategy's tree has at most {MAX_TREE_NODES} nodes")
        return focus_areas


class NodePublic(_Out):
    id: str
    parent_id: str | None
    level: NodeLevel
    name: str
    description: str


class NodeDetail(NodePublic):
    children: list[NodeDetail]


class StrategySummary(_Out):
    id: str
    name: str
    organisation: str
    vision: str
    values: list[str]
    period_start: date
    period_end: date
    created_at: datetime


class StrategyDetail(StrategySummary):
    focus_areas: list[NodeDetail]
    action_plan_version: int | None = Field(description="The latest action-plan revision.")


class ActionItem(ApiInput):
    """One initiative of the action plan under a node of the strategy's tree."""

    track_id: str = Field(description="A focus area, track or sub-track of this strategy.")
    initiative: str = Field(min_length=1, max_length=300, examples=["Lederkommunikation"])
    description: str = Field("", max_length=20000)
    owner: str = Field("", max_length=200, examples=["Kommunikationsafdelingen"])
    success_criterion: str = Field("", max_length=2000)


class ActionPlanRevise(ApiInput):
    year: int = Field(ge=1900, le=2200, examples=[2013])
    note: str = Field("", max_length=20000, examples=["Revised from the 2013 measurements"])
    items: list[ActionItem] = Field(max_length=500)


class ActionPlanVersionPublic(_Out):
    version: int
    year: int
    note: str
    items: list[dict]
    revised_by: str
    revised_at: datetime


class ActionPlanDiff(BaseModel):
    """Items are matched across versions by track and initiative."""

    from_version: int
    to_version: int
    added: list[dict]
    removed: list[dict]
    changed: list[dict] = Field(description="Items in both, with each changed field before/after.")


# --- the yearly report ----------------------------------------------------------------------


class GoalResult(_Out):
    description: str
    metric: str
    target: float
    unit: str
    measured_value: float | None = Field(description="As last measured, whatever the year.")
    measured_at: datetime | None

    @computed_field(description="Null: not measured yet.")  # type: ignore[prop-decorator]
    @property
    def attained(self) -> bool | None:
        return attained(self.measured_value, self.target)


class ActivityResult(_Out):
    """An activity taking place in the year, with what the other services reported of it
    (for the activity as a whole: a series' sends in other years count too)."""

    id: str
    title: str
    kind: str
    starts_at: datetime = Field(description="Its first time in the year.")
    cancelled: bool
    deliveries_sent: int = 0
    deliveries_failed: int = 0
    event_confirmed: int | None = Field(None, description="Registrations, once the event was held.")
    event_checked_in: int | None = None


class PlanResult(_Out):
    id: str
    title: str
    status: PlanStatus
    period_start: date | None
    period_end: date | None
    goals: list[GoalResult]
    activities: list[ActivityResult]


class NodeRef(BaseModel):
    id: str
    name: str


class NodeResult(_Out):
    """A node of the tree: the year's initiatives on it, and the plans on it (a track or
    sub-track) that touch the year, drafts included, each with its status."""

    id: str
    name: str
    level: NodeLevel
    focus_area: str = Field(description="The focus area it is, or belongs to.")
    initiatives: list[dict] = Field(description="The year's action plan items on this node.")
    plans: list[PlanResult]


class ReportSummary(BaseModel):
    plans: int
    plans_approved: int = Field(description="Approved, active or closed: carried out.")
    goals: int
    goals_attained: int
    goals_behind: int = Field(description="Measured, and short of the target.")
    goals_not_measured: int
    activities: int
    activities_cancelled: int
    tracks_without_plans: list[NodeRef] = Field(
        description="Tracks and sub-tracks with no plan in the year, on them or below them."
    )


class StrategyReport(BaseModel):
    """What a year of the strategy achieved, node by node in the tree's order: the starting
    point of the yearly revision of its action plan."""

    strategy: StrategySummary
    year: int
    action_plan_version: int | None = Field(
        description="The latest revision of the action plan for the year (null: none)."
    )
    summary: ReportSummary
    nodes: list[NodeResult]
    page: str | None = Field(
        None,
        description="The report as a page with charts, for people without an API token "
        "(management, say); the link works for 30 days.",
    )

"""marshmallow schemas for every request and response body (the OpenAPI document is built from them)."""

from __future__ import annotations

import functools

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class DeployProblemSchema(Schema):
    file = fields.String()
    element = fields.String(allow_none=True)
    message = fields.String()  # the technical detail, in English
    element_name = fields.String(allow_none=True)  # the element's drawn name
    text = fields.String()  # what is wrong and what to do, in plain Swedish, naming the element
    lane = fields.String()  # a lane that maps to no role (or the lanes field's lane the problem is about)


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    problems = fields.List(fields.Nested(DeployProblemSchema))  # a refused deploy: each problem, with its element


class TokenCreateSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=100))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class TokenSchema(Schema):
    token = fields.String()
    expires_at = fields.AwareDateTime()


class PersonSchema(Schema):
    """A person as pickers show them (``GET /users``)."""

    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    districts = fields.List(fields.String())
    organisation = fields.String()


class MeSchema(PersonSchema):
    """The signed-in user (``GET /me``): the same fields as a person in a picker."""


class OrganisationSchema(Schema):
    key = fields.String()
    name = fields.String()
    kind = fields.String()


class ProcessSchema(Schema):
    key = fields.String()
    name = fields.String()
    version = fields.Integer()
    deployed_at = fields.AwareDateTime()
    deployed_by = fields.String()
    checksum = fields.String()
    starter_roles = fields.List(fields.String())
    # lane name → role keys the deployer chose for this version; lanes not named follow bpmn/lanes.json
    lanes = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ProcessDetailSchema(ProcessSchema):
    versions = fields.List(fields.Nested(ProcessSchema))
    # every lane the latest version draws → the roles that act in it (its own choice, else bpmn/lanes.json)
    lane_roles = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    forms = fields.Dict(keys=fields.String())
    start_form = fields.Nested(lambda: FormSchema(), allow_none=True)


class InstanceCreateSchema(StrictSchema):
    process = fields.String(required=True, validate=validate.Length(min=1, max=100))
    data = fields.Dict(keys=fields.String(), load_default=dict)
    case_ref = fields.String(validate=validate.Length(min=1, max=100), allow_none=True)
    version = fields.Integer(validate=validate.Range(min=1), allow_none=True)


class TaskSummarySchema(Schema):
    id = fields.String()
    instance_id = fields.String()
    process = fields.String(attribute="process_key")
    name = fields.String()
    title = fields.String()
    lane = fields.String(allow_none=True)
    district = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    status = fields.String()
    created_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime(allow_none=True)
    completed_at = fields.AwareDateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)
    overdue = fields.Boolean()


class FormSchema(Schema):
    schema = fields.Dict(allow_none=True)
    ui_schema = fields.Dict(allow_none=True)


class TaskSchema(TaskSummarySchema):
    form = fields.Nested(FormSchema)
    data = fields.Dict()
    case_ref = fields.String(allow_none=True)


class TimerSchema(Schema):
    id = fields.String()
    instance_id = fields.String()
    task = fields.String(attribute="task_name")
    title = fields.String()
    kind = fields.String()
    due_at = fields.AwareDateTime()
    state = fields.String()
    fired_at = fields.AwareDateTime(allow_none=True)


class HistorySchema(Schema):
    at = fields.AwareDateTime()
    actor = fields.String(allow_none=True)
    action = fields.String()
    task_id = fields.String(allow_none=True)
    detail = fields.Dict()


class InstanceSummarySchema(Schema):
    id = fields.String()
    process = fields.String(attribute="process_key")
    version = fields.Integer()
    state = fields.String()
    case_ref = fields.String(allow_none=True)
    started_by = fields.String(allow_none=True)
    started_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    ended_at = fields.AwareDateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    districts = fields.List(fields.String())


class InstanceSchema(InstanceSummarySchema):
    data = fields.Dict()
    tasks = fields.List(fields.Nested(TaskSummarySchema))
    timers = fields.List(fields.Nested(TimerSchema))
    history = fields.List(fields.Nested(HistorySchema))
    waits_for = fields.List(fields.String())
    may_send = fields.List(fields.String())  # messages the caller may send now (messageRoles)
    state_reason = fields.String(allow_none=True)


class MessageCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    data = fields.Dict(keys=fields.String(), load_default=dict)


class ReasonSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class BreakGlassSchema(StrictSchema):
    reason = fields.String(required=True, validate=[validate.Length(min=1, max=2000),
                                                    validate.Regexp(r"\S", error="state a reason")])


class RetrySchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    data = fields.Dict(keys=fields.String(), load_default=dict)


class AssignSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=100))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CompleteSchema(StrictSchema):
    data = fields.Dict(keys=fields.String(), required=True)


class CompletedSchema(Schema):
    instance = fields.Nested(InstanceSummarySchema)
    next_tasks = fields.List(fields.Nested(TaskSummarySchema))


class FiredSchema(Schema):
    fired = fields.Boolean()
    timer = fields.Nested(TimerSchema)


class EventSchema(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    actor = fields.String()
    action = fields.String()
    instance_id = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True)
    detail = fields.Dict()


class DeployedSchema(Schema):
    deployed = fields.List(fields.Nested(ProcessSchema))


class StepStatsSchema(Schema):
    task = fields.String()
    count = fields.Integer()
    median_seconds = fields.Float(allow_none=True)
    p90_seconds = fields.Float(allow_none=True)


class ProcessStatsSchema(Schema):
    process = fields.String()
    instances = fields.Dict(keys=fields.String(), values=fields.Integer())
    open_tasks = fields.Integer()
    overdue_tasks = fields.Integer()
    open_tasks_by_lane = fields.Dict(keys=fields.String(), values=fields.Integer())
    steps = fields.List(fields.Nested(StepStatsSchema))


class StatsSchema(Schema):
    processes = fields.List(fields.Nested(ProcessStatsSchema))


class PageQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


@functools.cache
def schema(cls: type[Schema], *, many: bool = False) -> Schema:
    """One shared instance per schema class: building a schema deep-copies its fields (a tenth of a
    request's time), and a marshmallow schema keeps no state between ``load`` and ``dump`` calls."""
    return cls(many=many)


def page_of(item_schema: type[Schema]) -> type[Schema]:
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item_schema)), "total": fields.Integer(),
        "page": fields.Integer(), "per_page": fields.Integer(),
    }, name=f"{item_schema.__name__.removesuffix('Schema')}PageSchema")

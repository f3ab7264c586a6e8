"""Access to case data (inre och yttre sekretess), in one place: who sees a case and is offered its
tasks (``visibility``), which open tasks they may act on (``inbox``), what of a case they see
(``projection``), who may send it a message (``messages``), and the one operation that logs every
read (``reads``). ``api/`` and ``web/`` only present what these decide."""

from .case_view import (
    CaseRows,
    Lens,
    case_rows,
    history,
    instance_detail,
    instance_summary,
    summary_load,
    task_detail,
    task_summary,
    task_title,
)
from .inbox import TaskFilter, actionable_count, actionable_page
from .messages import may_send, sendable
from .projection import (
    RECIPIENT_KINDS,
    View,
    case_data,
    deidentified,
    error_text,
    person,
    shows_identity,
    task_data,
    view_of,
)
from .reads import record_reads
from .visibility import (
    can_see_instance,
    chef_districts,
    holds_or_held,
    in_mandate,
    is_offered,
    manages_task,
    may_act_on_task,
    may_see_task,
    own_tasks,
    visible_instances,
)

__all__ = [
    "CaseRows", "Lens", "case_rows", "history", "instance_detail", "instance_summary", "task_detail", "task_summary",
    "summary_load", "task_title",
    "RECIPIENT_KINDS", "TaskFilter", "View", "actionable_count", "actionable_page",
    "can_see_instance", "case_data", "chef_districts", "deidentified",
    "error_text",
    "holds_or_held", "in_mandate", "is_offered", "manages_task", "may_act_on_task", "may_see_task", "may_send",
    "own_tasks",
    "person", "record_reads", "sendable", "shows_identity", "task_data", "view_of", "visible_instances",
]

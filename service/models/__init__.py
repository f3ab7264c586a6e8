"""SQLAlchemy 2 models, one concept per module."""

from .base import Base
from .definition import ProcessDefinition
from .draft import ProcessDraft
from .event import Event
from .external_task import ExternalTask, ExternalTaskStatus
from .instance import Disclosure, InstanceAccess, InstanceState, ProcessInstance
from .notification import Notification
from .organisation import DEFAULT_ORGANISATION, Organisation, OrganisationKind
from .task import HumanTask, TaskStatus
from .timer import Timer, TimerState
from .user import ApiToken, User

__all__ = [
    "ApiToken", "Base", "Event", "ExternalTask", "ExternalTaskStatus", "HumanTask", "InstanceAccess",
    "InstanceState", "Notification",
    "DEFAULT_ORGANISATION", "Organisation", "OrganisationKind", "Disclosure",
    "ProcessDefinition", "ProcessDraft", "ProcessInstance", "TaskStatus", "Timer", "TimerState", "User",
]

"""SQLAlchemy 2 models, one concept per module."""

from .base import Base
from .definition import ProcessDefinition
from .event import Event
from .instance import InstanceAccess, InstanceState, ProcessInstance
from .notification import Notification
from .task import HumanTask, TaskStatus
from .timer import Timer, TimerState
from .user import ApiToken, User

__all__ = [
    "ApiToken", "Base", "Event", "HumanTask", "InstanceAccess", "InstanceState", "Notification",
    "ProcessDefinition", "ProcessInstance", "TaskStatus", "Timer", "TimerState", "User",
]

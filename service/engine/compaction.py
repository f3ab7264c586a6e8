"""Drop finished history from a workflow so a step costs the same at the 200th loop as at the 1st.

SpiffWorkflow keeps every task it ever ran in one tree and walks the whole tree on every step
(ENGINE-NOTES: 16 ms at a loop's 200th iteration against 1 ms at the first; the stored state grows
without end). Everything the engine still needs lies at or below the lowest common ancestor of
the unfinished tasks: pending joins and their branches, boundary-event splits, multi-instance
parents are all either unfinished themselves or below that ancestor. So the chain of finished
tasks between the root and that ancestor — and the finished side branches hanging off it — can
go: the ancestor is re-attached directly under the root. Task data is copied into children when
they are created, so nothing a live task reads is lost. The audit log, not the tree, is the
history people see.

Each (sub)workflow is compacted on its own. Workflows smaller than ``threshold`` tasks are left
alone: compaction is for long-running repetitions, not for every step.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState

DEFAULT_THRESHOLD = 20


def compact(workflow: Any, threshold: int = DEFAULT_THRESHOLD) -> int:
    """Compact the top workflow and every subworkflow; returns how many tasks were dropped."""
    dropped = _compact_one(workflow, workflow, threshold)
    for subworkflow in list(workflow.subprocesses.values()):
        if subworkflow.parent_task_id in _all_task_ids(workflow):
            dropped += _compact_one(workflow, subworkflow, threshold)
    return dropped


def _all_task_ids(top: Any) -> set[Any]:
    ids = set(top.tasks)
    for subworkflow in top.subprocesses.values():
        ids.update(subworkflow.tasks)
    return ids


def _drop_subprocesses(top: Any, task_ids: set[Any]) -> None:
    """Forget finished subprocesses whose calling task was dropped (and the ones they called)."""
    pending = [task_id for task_id in task_ids if task_id in top.subprocesses]
    while pending:
        subworkflow = top.subprocesses.pop(pending.pop())
        pending.extend(task_id for task_id in subworkflow.tasks if task_id in top.subprocesses)


def _compact_one(top: Any, workflow: Any, threshold: int) -> int:
    if len(workflow.tasks) <= threshold:
        return 0
    root = workflow.task_tree
    unfinished = [t for t in workflow.tasks.values() if t is not root and not t.has_state(TaskState.FINISHED_MASK)]
    if not unfinished:
        return 0
    keep = _lowest_common_ancestor(unfinished, root)
    if keep is None or keep is root or keep.parent is root:
        return 0
    kept_ids = {t.id for t in _subtree(keep)}
    kept_ids.add(root.id)
    doomed = [task_id for task_id in workflow.tasks if task_id not in kept_ids]
    _drop_subprocesses(top, set(doomed))
    # Re-attach the kept subtree directly under the root.
    keep._parent = root.id
    root._children = [keep.id]
    for task_id in doomed:
        del workflow.tasks[task_id]
    if workflow.last_task is not None and workflow.last_task.id not in kept_ids:
        # The root takes over the latest data (kept tasks store their data as deltas to their parent,
        # computed when serialized, so this changes nothing they hold); snapshots read it from there.
        root.data = dict(workflow.last_task.data)
        workflow.last_task = None
    return len(doomed)


def _lowest_common_ancestor(tasks: list[Any], root: Any) -> Any:
    paths = []
    for task in tasks:
        path = []
        node = task
        while node is not None:
            path.append(node)
            node = node.parent
        paths.append(path[::-1])  # root first
    common = None
    for level in zip(*paths, strict=False):
        first = level[0]
        if all(node is first for node in level):
            common = first
        else:
            break
    return common if common is not None else root


def _subtree(task: Any) -> list[Any]:
    found, stack = [], [task]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.children)
    return found

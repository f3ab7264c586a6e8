"""Samverkan's benchmarks (``scripts/bench``): figures measured against the architecture's targets.

Each benchmark measures the service the way it runs — a real ``samverkan serve`` process, a real
database file, real HTTP — or the service operations in-process where the brief says so, and puts
every figure next to the raw SpiffWorkflow engine doing the same work in this process (parse once,
SpiffWorkflow's own serializer). These are measurements, not tests: nothing here asserts a target.
The benchmarks use their own small diagrams (``bench/bpmn``, forms in ``bench/forms``).
"""

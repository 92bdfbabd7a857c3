"""What runs in a worker: imports, training, scoring, exports and recovery.

Each module imports ``recognition`` (and with it PyTorch) at the top; the web
process never imports this package. Jobs write their own rows (claims,
progress, results) and call ``annotator.services`` for the writes the web also
makes (promotion, requesting a run). Callers: ``annotator.tasks``, and the launcher
(``jobs.recovery`` before it starts its workers).
"""

"""The active-learning simulation, split by concern (``python -m benchmarks.active_learning`` runs it).

* :mod:`benchmarks.al.costs`: pure arithmetic on curves: keystrokes, labels and
  keystrokes to reach a target CER, the review-time model.
* :mod:`benchmarks.al.simulation`: the rounds (score, pick, reveal, fine-tune
  from the base, test) and auto-accept, in parallel processes, resumable.
* :mod:`benchmarks.al.report`: tables, findings, plot and the markdown report.
"""

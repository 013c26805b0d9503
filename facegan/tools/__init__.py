"""The bodies of the commands that use a trained run: sample.py (scripts/sample.py), export.py
(scripts/export.py), evaluate.py (scripts/evaluate.py), and sweep_summary.py (the table after a multirun)."""

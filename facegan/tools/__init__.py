"""The bodies of the commands that use a trained run: sample.py (scripts/sample.py), export.py
(scripts/export.py), evaluate.py (scripts/evaluate.py), sweep_summary.py (the table after a multirun), and
gpu_check.py and offline_bundle.py (make gpu-check, make offline-bundle)."""

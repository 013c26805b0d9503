"""Hyperparameter search on Optuna (hparams_search=optuna): the search space, the study, and the pruning of
trials. Hydra's side, the sweeper that launches the trials, is hydra_plugins/facegan_optuna_sweeper (Hydra finds
plugins only there). Needs the `search` extra: pip install 'facegan[search]'."""

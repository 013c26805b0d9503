"""facegan's Hydra sweeper for hparams_search=optuna (Hydra discovers sweepers only in the hydra_plugins package)."""

"""Where and how training runs: devices (the one resolver), performance (speed knobs per device), distributed
(what torchrun and SLURM decide), strategy (gan_ddp), startup (imports without the GC).

`register()` makes facegan's names known to the libraries that look them up by name: the config resolvers
`${facegan.run_folder:...}`, `${facegan.new_folder:...}` (a multirun's sweep folder) and
`${facegan.on_rank_zero:...}` (conf/hydra/default.yaml), `${facegan.metric_key:fid,N}` (the logged name of FID on
N samples, metrics/fid10k: conf/callbacks/best_checkpoint.yaml),
`${facegan.by_device:${trainer.accelerator},<cpu value>,<gpu value>}` (a recipe per device) and Lightning's
`strategy=gan_ddp`. Every entry point calls it before Hydra composes a config; it is idempotent.
This module imports nothing heavy itself, so scripts can import `startup` from it first.
"""


def register() -> None:
    from omegaconf import OmegaConf
    from pytorch_lightning.strategies import StrategyRegistry

    from facegan.metrics.settings import metric_key
    from facegan.runtime.devices import by_device
    from facegan.runtime.distributed import new_folder, on_rank_zero, run_folder
    from facegan.runtime.strategy import STRATEGY_NAME, GANDDPStrategy

    resolvers = {
        "facegan.run_folder": run_folder,
        "facegan.on_rank_zero": on_rank_zero,
        "facegan.metric_key": metric_key,
        "facegan.by_device": by_device,
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
    if not OmegaConf.has_resolver("facegan.new_folder"):
        # Cached in the config, which a launcher hands to its job processes: they find the folder it made.
        OmegaConf.register_new_resolver("facegan.new_folder", new_folder, use_cache=True)
    if STRATEGY_NAME not in StrategyRegistry:
        StrategyRegistry.register(
            STRATEGY_NAME, GANDDPStrategy, description="DDP for GANs under manual optimisation (facegan)"
        )

"""Cheap checks of a composed config, run before anything heavy is built or any file written."""

from omegaconf import DictConfig

from facegan.errors import ConfigError
from facegan.models import num_resolution_blocks
from facegan.runtime.devices import asks_for_gpu, requested_processes, training_device_type, visible_gpus


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError with a one-line message for values that cannot work."""
    model_size = cfg.model.image_size
    try:
        num_resolution_blocks(model_size)
    except ValueError as error:
        raise ConfigError(f"model.image_size: {error}") from None
    data_size = cfg.data.image_size
    if data_size != model_size:
        raise ConfigError(
            f"data.image_size={data_size} does not match model.image_size={model_size}: drop the data.image_size "
            f"override (it follows the model) or choose the model of that size, e.g. model=dcgan{data_size}"
        )
    batch_size = cfg.data.batch_size
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(
            f"data.batch_size={batch_size} must be a positive integer (per device), e.g. data.batch_size=128"
        )
    trainer = cfg.trainer
    if trainer.get("max_epochs") in (None, -1) and trainer.get("max_steps", -1) in (None, -1):
        raise ConfigError(
            "trainer.max_epochs and trainer.max_steps are both unset: set one, e.g. trainer.max_epochs=10"
        )
    if asks_for_gpu(trainer) and visible_gpus() == 0:
        raise ConfigError(f"trainer.accelerator={trainer.accelerator} but no CUDA GPU is visible: use trainer=cpu")
    processes = requested_processes(trainer)
    if asks_for_gpu(trainer) and processes > visible_gpus() * int(trainer.get("num_nodes", 1)):
        raise ConfigError(
            f"trainer.devices={trainer.devices} asks for more GPUs than the {visible_gpus()} visible: "
            "lower trainer.devices"
        )
    if trainer.get("sync_batchnorm") and processes > 1 and training_device_type(trainer) != "cuda":
        raise ConfigError(
            "trainer.sync_batchnorm=true needs GPUs (PyTorch's SyncBatchNorm has no CPU version): "
            "drop it on the CPU, each process then normalises over its own data.batch_size"
        )

"""The epoch checkpoints: last.ckpt after every epoch, and the newest `checkpoint.keep_epochs` epoch_NNN.ckpt."""

from pytorch_lightning.callbacks import ModelCheckpoint

from facegan.checkpoints.restored_paths import RunFolderModelCheckpoint


class EpochCheckpoint(RunFolderModelCheckpoint):
    """Lightning's ModelCheckpoint (resuming only the paths inside its folder), writing last.ckpt after every epoch
    also when no epoch file is kept (`checkpoint.keep_epochs=0`): Lightning's own writes last.ckpt only after a top-k
    save, so with none kept a whole run would go unsaved until it ends."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self.save_top_k == 0 and self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    @property
    def state_key(self) -> str:
        # Lightning's name for this state, so checkpoints written with ModelCheckpoint resume their epoch bookkeeping
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

"""The Hydra side of hparams_search=optuna: ask the study for trials, launch them as jobs with Hydra's launcher
(in this process, or as SLURM jobs with hydra/launcher=slurm), and tell the study each job's outcome. The search
space, the study and the pruning live in facegan/search/."""

import logging
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from facegan.errors import ConfigError, describe
from facegan.search import study as studies
from facegan.search.space import SearchSpace

log = logging.getLogger(__name__)

DIRECTIONS = ("minimize", "maximize")


class FaceganOptunaSweeper(Sweeper):
    def __init__(
        self,
        study_name: str,
        storage: str | None,
        direction: str,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        sampler: Any = None,
        pruner: Any = None,
        params: dict[str, str] | None = None,
        enqueue_trials: list[dict[str, Any]] | None = None,
    ):
        if direction not in DIRECTIONS:
            raise ConfigError(f"hydra.sweeper.direction={direction} is not one of {', '.join(DIRECTIONS)}")
        for name, value in (("n_trials", n_trials), ("n_jobs", n_jobs)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"hydra.sweeper.{name}={value} must be a whole number of at least 1")
        if not 0.0 <= max_failure_rate <= 1.0:
            raise ConfigError(f"hydra.sweeper.max_failure_rate={max_failure_rate} must lie in [0, 1]")
        self.study_name = study_name
        self.storage = storage
        self.direction = direction
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failure_rate = max_failure_rate
        self.sampler = sampler
        self.pruner = pruner
        self.params = OmegaConf.to_container(params) if isinstance(params, DictConfig) else params
        self.enqueue_trials = OmegaConf.to_container(enqueue_trials) if enqueue_trials is not None else []
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        studies.import_optuna()  # one line naming the extra to install, before anything is launched
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def study_location(self) -> str:
        """The study's journal file: hydra.sweeper.storage, or optuna.journal in the sweep folder."""
        if self.storage:
            return self.storage if "://" in self.storage else str(Path(self.storage).expanduser().resolve())
        return str(Path(self.config.hydra.sweep.dir).resolve() / "optuna.journal")

    def trial_overrides(self, space: SearchSpace, trial, location: str) -> list[str]:
        return [
            *space.overrides(trial.params),
            f"++search.trial={trial.number}",
            f"++search.storage={location}",
            f"++search.study_name={self.study_name}",
        ]

    def composes(self, overrides: list[str]) -> str | None:
        """None when the trial's config composes, else the one-line reason (the trial fails, the study goes on)."""
        try:
            self.hydra_context.config_loader.load_sweep_config(master_config=self.config, sweep_overrides=overrides)
        except Exception as error:
            return describe(error)
        return None

    def sweep(self, arguments: list[str]) -> None:
        optuna = studies.import_optuna()
        space = SearchSpace.parse(self.params, arguments)
        location = self.study_location()
        study = studies.open_study(location, self.study_name, self.direction, self.sampler, self.pruner)
        studies.recover_interrupted(study)
        for params in self.enqueue_trials:
            study.enqueue_trial(params, skip_if_exists=True)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        log.info(
            "Study %s (%s): %d trial(s) done of %d; searching %s",
            self.study_name,
            location,
            len(studies.finished_trials(study)),
            self.n_trials,
            ", ".join(space.distributions) or "nothing (the command line fixes every value)",
        )
        while (remaining := self.n_trials - len(studies.finished_trials(study))) > 0:
            trials = [study.ask(space.distributions) for _ in range(min(self.n_jobs, remaining))]
            for trial in trials:
                studies.claim(trial)
            batch = []
            for trial in trials:
                overrides = self.trial_overrides(space, trial, location)
                error = self.composes(overrides)
                if error is None:
                    batch.append((trial, overrides))
                else:
                    trial.set_user_attr("error", error)
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    log.warning("trial %d: FAIL (%s); the study goes on", trial.number, error)
            if batch:
                returns = self.launcher.launch([overrides for _, overrides in batch], first_free_job(sweep_dir))
                for (trial, _), job_return in zip(batch, returns):
                    studies.tell(study, trial, job_return)
            self.check_failure_rate(study)
        summary = studies.results(study)
        OmegaConf.save(OmegaConf.create(summary), sweep_dir / "optimization_results.yaml")
        log.info("Study %s: %s; best %s", self.study_name, summary["trials"], summary.get("best_value", "none"))

    def check_failure_rate(self, study) -> None:
        finished = studies.finished_trials(study)
        failed = [trial for trial in finished if trial.state.name == "FAIL"]
        if finished and len(failed) / len(finished) > self.max_failure_rate:
            raise ConfigError(
                f"{len(failed)} of {len(finished)} trials failed, above hydra.sweeper.max_failure_rate="
                f"{self.max_failure_rate}; the last: {failed[-1].user_attrs.get('error')}"
            )


def first_free_job(sweep_dir: Path) -> int:
    """The next job folder number: a resumed search goes on after the folders its first run left."""
    numbers = [int(path.name) for path in sweep_dir.glob("*") if path.is_dir() and path.name.isdigit()]
    return max(numbers, default=-1) + 1

"""The search space: Hydra's sweep syntax (`choice`, `interval`, `range`, `tag(log, ...)`, `tag(int, ...)`, or `a,b,c`
on the command line) read into Optuna distributions, and a sampled trial written back as Hydra overrides."""

from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep

from facegan.errors import ConfigError

SCALARS = (bool, int, float, str)


@dataclass
class SearchSpace:
    distributions: dict[str, Any]  # override key -> optuna distribution
    fixed: list[str]  # overrides every trial gets as they are

    @classmethod
    def parse(cls, params: dict[str, str] | None, arguments: list[str]) -> "SearchSpace":
        """`hydra.sweeper.params` (key: sweep expression) and the command line's overrides; a key swept on the
        command line replaces the same key of `params`."""
        parser = OverridesParser.create()
        configured = parser.parse_overrides([f"{key}={value}" for key, value in (params or {}).items()])
        given = parser.parse_overrides(arguments)
        distributions, fixed = {}, []
        for override in [*configured, *given]:
            key = override.get_key_element()
            if override.is_sweep_override():
                distributions[key] = distribution_of(override)
            else:
                distributions.pop(key, None)  # a fixed value on the command line wins over the searched one
                fixed.append(override.input_line)
        return cls(distributions, fixed)

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """The overrides of one trial: the fixed ones, then `key=value` for every sampled parameter."""
        return [*self.fixed, *(f"{key}={override_value(value)}" for key, value in params.items())]


def distribution_of(override: Override) -> Any:
    import optuna.distributions as dist

    sweep = override.value()
    key = override.get_key_element()
    if isinstance(sweep, IntervalSweep):
        log = "log" in sweep.tags
        if "int" in sweep.tags:  # Hydra reads interval bounds as floats: tag(int, interval(1, 5)) for whole numbers
            return dist.IntDistribution(int(sweep.start), int(sweep.end), log=log)
        return dist.FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    if isinstance(sweep, ChoiceSweep | RangeSweep):
        choices = list(override.sweep_iterator())
        for choice in choices:
            if choice is not None and not isinstance(choice, SCALARS):
                raise ConfigError(
                    f"search parameter {key}: choice {choice!r} is not a number, string, boolean or null; "
                    "Optuna can only search over those"
                )
        return dist.CategoricalDistribution(choices)
    raise ConfigError(
        f"search parameter {key}: cannot search over {override.input_line!r}; use choice, interval or range"
    )


def override_value(value: Any) -> str:
    """A sampled value in Hydra's override grammar (strings quoted when they hold its special characters)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if text and all(char.isalnum() or char in "_-./:" for char in text):
        return text
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"

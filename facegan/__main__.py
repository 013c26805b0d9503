"""python -m facegan <command> [overrides]: the console scripts' commands without their launchers, e.g.
`python -m facegan train data=synthetic` (the benchmarks start training this way, in a checkout and an install)."""

import os
import sys

COMMANDS = ("train", "sample", "evaluate", "export", "prepare_data", "benchmark")
# Lightning starts each further process of `trainer.devices=N` as `python -m facegan <overrides>`, with this
# process's arguments after the command was taken off them: the command reaches those processes here.
COMMAND_VARIABLE = "FACEGAN_COMMAND"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        name = sys.argv.pop(1)  # Hydra reads the overrides from the rest of argv
    elif os.environ.get(COMMAND_VARIABLE) in COMMANDS:
        name = os.environ[COMMAND_VARIABLE]
    else:
        given = sys.argv[1] if len(sys.argv) > 1 else "nothing"
        sys.exit(f"facegan: error: python -m facegan needs a command first, one of {', '.join(COMMANDS)} (got {given})")
    os.environ[COMMAND_VARIABLE] = name
    from facegan import cli

    getattr(cli, name)()


if __name__ == "__main__":
    main()

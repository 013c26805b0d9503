"""python -m facegan <command> [overrides]: the console scripts' commands without their launchers, e.g.
`python -m facegan train data=synthetic` (the benchmarks start training this way, in a checkout and an install)."""

import sys

COMMANDS = ("train", "sample", "evaluate", "export", "prepare_data", "benchmark")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        given = sys.argv[1] if len(sys.argv) > 1 else "nothing"
        sys.exit(f"facegan: error: python -m facegan needs a command first, one of {', '.join(COMMANDS)} (got {given})")
    from facegan import cli

    command = getattr(cli, sys.argv.pop(1))  # Hydra reads the overrides from the rest of argv
    command()


if __name__ == "__main__":
    main()

"""One launch per named run folder (runtime/run_claim.py): claimed atomically before anything is written, released
at the end, a stale claim taken over, a live one refused in one line."""

import json
import multiprocessing
import subprocess

import pytest

from facegan.errors import ConfigError
from facegan.runtime.liveness import this_process
from facegan.runtime.run_claim import CLAIM_FILE, claim_run_folder, release_run_folder
from helpers import TINY, run_cli


def claimed_by(run_dir, record) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CLAIM_FILE).write_text(json.dumps(record))


def test_a_claim_is_this_launchs_until_released(tmp_path):
    path = claim_run_folder(tmp_path / "run")
    assert json.loads(path.read_text()) == this_process()
    assert claim_run_folder(tmp_path / "run") == path  # asking again in the same process
    release_run_folder(path)
    assert not path.exists()


def test_a_live_owner_keeps_its_claim(tmp_path):
    with subprocess.Popen(["sleep", "60"]) as owner:
        claimed_by(tmp_path / "run", {**this_process(), "pid": owner.pid})
        with pytest.raises(ConfigError, match=rf"hydra.run.dir=.*run is in use by process {owner.pid} on "):
            claim_run_folder(tmp_path / "run")
        owner.kill()
    release_run_folder(tmp_path / "run" / CLAIM_FILE)  # not ours: left alone
    assert (tmp_path / "run" / CLAIM_FILE).exists()


def test_a_claim_whose_owner_is_gone_or_torn_is_taken_over(tmp_path):
    with subprocess.Popen(["true"]) as gone:
        gone.wait()
    claimed_by(tmp_path / "gone", {**this_process(), "pid": gone.pid})
    assert json.loads(claim_run_folder(tmp_path / "gone").read_text()) == this_process()
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / CLAIM_FILE).write_text('{"host": "a", "pi')  # killed mid-write
    assert json.loads(claim_run_folder(tmp_path / "torn").read_text()) == this_process()


def test_a_claim_from_another_machine_is_refused_naming_the_file_to_delete(tmp_path):
    claimed_by(tmp_path / "run", {**this_process(), "host": "another-host", "pid": 12345})
    with pytest.raises(ConfigError, match=rf"cannot be checked from here: .* delete {tmp_path / 'run' / CLAIM_FILE}"):
        claim_run_folder(tmp_path / "run")


def _claim(run_dir, start, results) -> None:
    start.wait()
    try:
        claim_run_folder(run_dir)
        results.put("claimed")
    except ConfigError:
        results.put("refused")


def test_of_two_launches_at_the_same_moment_exactly_one_claims(tmp_path):
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    launches = [context.Process(target=_claim, args=(tmp_path / "run", start, results)) for _ in range(2)]
    for launch in launches:
        launch.start()
    start.set()
    for launch in launches:
        launch.join(timeout=60)
    assert sorted(results.get(timeout=5) for _ in launches) == ["claimed", "refused"]


@pytest.mark.slow
def test_a_launch_into_a_folder_in_use_is_refused_before_hydra_writes_there(tmp_path):
    run_dir = tmp_path / "run"
    with subprocess.Popen(["sleep", "120"]) as owner:
        claimed_by(run_dir, {**this_process(), "pid": owner.pid})
        result = run_cli("train.py", *TINY, f"hydra.run.dir={run_dir}", check=False)
        owner.kill()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("facegan: error:")]
    assert f"is in use by process {owner.pid}" in error
    assert sorted(path.name for path in run_dir.iterdir()) == [CLAIM_FILE]  # no .hydra/, no train.log

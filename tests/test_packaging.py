"""What `pip install facegan` brings and what it gives: a lean core with the search, SLURM, ONNX and app parts as
extras, minimum versions the code needs, every import declared, and a wheel whose console scripts train from any
folder."""

import ast
import importlib.metadata
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from helpers import REPO_ROOT

tomllib = pytest.importorskip("tomllib")

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
CORE = {Requirement(line).name.lower(): Requirement(line) for line in PROJECT["dependencies"]}
EXTRAS = {
    extra: {Requirement(line).name.lower(): Requirement(line) for line in lines}
    for extra, lines in PROJECT["optional-dependencies"].items()
}
# import name -> distribution, where they differ (packages_distributions() also lists the editable install's own)
DISTRIBUTIONS = {
    "PIL": "pillow",
    "hydra": "hydra-core",
    "lightning_fabric": "pytorch-lightning",  # shipped inside pytorch-lightning's wheel
    "pytorch_lightning": "pytorch-lightning",
    "torch_fidelity": "torch-fidelity",
}
LOCAL = {"facegan", "hydra_plugins"}
# whole modules that need an extra (the explorer's page: Gradio)
OPTIONAL_HOMES = {"facegan/search": "search", "hydra_plugins": "search", "facegan/explore/app.py": "app"}
OUTSIDE_CHECKOUT = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # the venv's own view
CONSOLE_SCRIPTS = ["facegan-train", "facegan-sample", "facegan-evaluate", "facegan-export", "facegan-prepare",
                   "facegan-bench", "facegan-explore"]  # fmt: skip


def test_the_core_install_brings_no_search_database_or_cluster_toolkit():
    for name in ("optuna", "sqlalchemy", "alembic", "hydra-optuna-sweeper", "submitit", "hydra-submitit-launcher"):
        assert name not in CORE, f"{name} is in the core dependencies"
    assert Requirement("optuna>=4").specifier == EXTRAS["search"]["optuna"].specifier
    assert "sqlalchemy" not in EXTRAS["search"]  # Optuna brings the one it supports: no pin of ours
    assert "hydra-submitit-launcher" in EXTRAS["slurm"] and {"onnx", "onnxruntime"} <= set(EXTRAS["export"])
    assert "gradio" not in CORE and "gradio" in EXTRAS["app"]  # the explorer's page only
    dev = EXTRAS["dev"]["facegan"]
    assert dev.extras == {"search", "slurm", "export", "app"}  # make install: everything the tests exercise


@pytest.mark.parametrize(
    ("name", "minimum", "too_old"),
    [("torch", "2.6", "2.5.1"), ("torchvision", "0.21", "0.20.1"), ("pillow", "10.1", "10.0.1")],
)
def test_minimum_versions_are_the_ones_the_code_needs(name, minimum, too_old):
    # torch 2.6 made weights_only=True torch.load's default (torchvision 0.21 is its release); pillow 10.1
    specifier = CORE[name].specifier
    assert Version(minimum) in specifier and Version(too_old) not in specifier


def test_the_installed_environment_meets_every_requirement():
    for requirement in [*CORE.values(), *EXTRAS["search"].values()]:
        installed = importlib.metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), f"{requirement} but {installed} installed"


def imports_of(path: Path) -> tuple[set[str], set[str]]:
    """Top-level names imported by a module: (at module level, inside functions)."""
    tree = ast.parse(path.read_text())
    top, lazy = set(), set()
    function_nodes = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    nested = {id(inner) for function in function_nodes for inner in ast.walk(function) if inner is not function}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = {node.module.split(".")[0]}
        else:
            continue
        (lazy if id(node) in nested else top).update(names)
    return top, lazy


def distribution_of(module: str) -> str | None:
    if module in sys.stdlib_module_names or module in LOCAL or module == "__future__":
        return None
    return DISTRIBUTIONS.get(module, module.replace("_", "-")).lower()


def test_every_third_party_import_is_declared_where_it_is_needed():
    every_extra = {name for extra in EXTRAS.values() for name in extra}
    for path in sorted([*(REPO_ROOT / "facegan").rglob("*.py"), *(REPO_ROOT / "hydra_plugins").rglob("*.py")]):
        relative = path.relative_to(REPO_ROOT).as_posix()
        home = next((extra for prefix, extra in OPTIONAL_HOMES.items() if relative.startswith(prefix)), None)
        top, lazy = imports_of(path)
        for module in top:
            name = distribution_of(module)
            allowed = set(CORE) | (set(EXTRAS[home]) if home else set())
            assert name is None or name in allowed, f"{relative} imports {module} at module level: not in core"
        for module in lazy:
            name = distribution_of(module)
            assert name is None or name in set(CORE) | every_extra, f"{relative} imports {module}: not declared"


def test_the_packaged_list_holds_every_package_folder():
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for root in ("facegan", "hydra_plugins")
        for init in (REPO_ROOT / root).rglob("__init__.py")
    }
    assert listed == folders | {"facegan.conf"}
    assert sorted(PROJECT["scripts"]) == sorted(CONSOLE_SCRIPTS)


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory):
    """facegan's wheel in a fresh venv outside the checkout. The venv reaches this environment's dependencies
    through a .pth line (installing torch again would take minutes), but none of its facegan."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO_ROOT), "--no-deps", "--no-build-isolation", "-q", "-w",
         str(root / "dist")],
        check=True, capture_output=True, cwd=root,
    )  # fmt: skip
    (wheel,) = (root / "dist").glob("facegan-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, env=OUTSIDE_CHECKOUT,
    )  # fmt: skip
    # after the install: pip must not find this environment's (editable) facegan and call the wheel installed
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv, Path(site), wheel


@pytest.mark.slow
@pytest.mark.long
def test_the_wheel_ships_its_configs_and_its_console_scripts_train_from_any_folder(installed_wheel, tmp_path):
    venv, site, wheel = installed_wheel
    import zipfile

    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("facegan/conf/")}
    assert {f"facegan/conf/{path.relative_to(REPO_ROOT / 'conf').as_posix()}" for path in
            (REPO_ROOT / "conf").rglob("*.yaml")} == shipped  # fmt: skip
    for script in CONSOLE_SCRIPTS:
        assert (venv / "bin" / script).is_file()

    where = subprocess.run(
        [venv / "bin" / "python", "-c",
         "import facegan, hydra_plugins.facegan_optuna_sweeper as s; print(facegan.__file__); print(s.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=OUTSIDE_CHECKOUT,
    ).stdout.split()  # fmt: skip
    assert all(Path(path).is_relative_to(site) for path in where)  # the wheel's, not the checkout's

    result = subprocess.run(
        [venv / "bin" / "facegan-train", "debug=tiny", "trainer.max_epochs=1", "hydra.run.dir=run"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, env=OUTSIDE_CHECKOUT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file() and (tmp_path / "run" / "train.log").is_file()

    composed = subprocess.run(
        [venv / "bin" / "facegan-train", "hparams_search=optuna", "--cfg", "hydra", "--package", "hydra.sweeper"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env=OUTSIDE_CHECKOUT,
    )  # fmt: skip
    assert composed.returncode == 0 and "FaceganOptunaSweeper" in composed.stdout, composed.stderr[-2000:]
    usage = subprocess.run(
        [venv / "bin" / "python", "-m", "facegan"], capture_output=True, text=True, cwd=tmp_path, env=OUTSIDE_CHECKOUT
    )
    assert usage.returncode != 0 and "train" in usage.stderr


def test_make_install_installs_the_locked_versions_with_their_hashes():
    # pytorch-lightning 2.6.2 and 2.6.3 were published compromised (GHSA-w37p-236h-pfx3)
    lightning = CORE["pytorch-lightning"].specifier
    assert not lightning.contains("2.6.2") and not lightning.contains("2.6.3") and lightning.contains("2.6.1")

    lock = (REPO_ROOT / "requirements" / "dev.lock").read_text().replace("\\\n", " ")
    pins = {}
    for line in lock.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "-")):
            continue  # comments, --index-url
        text, *hashes = line.split("--hash=sha256:")
        requirement = Requirement(text.strip())
        specifiers = list(requirement.specifier)
        assert [specifier.operator for specifier in specifiers] == ["=="], f"{text.strip()}: not pinned"
        assert hashes, f"{text.strip()}: no hash"
        pins.setdefault(requirement.name.lower(), set()).add(specifiers[0].version)
    assert "facegan" not in pins  # make install puts the checkout itself in place, editable
    assert pins["pytorch-lightning"].isdisjoint({"2.6.2", "2.6.3"})
    declared = {**CORE, **{name: requirement for extra in EXTRAS.values() for name, requirement in extra.items()}}
    del declared["facegan"]  # dev's facegan[search,slurm,export]
    for name, requirement in declared.items():
        assert name in pins and all(requirement.specifier.contains(version) for version in pins[name]), (
            f"requirements/dev.lock does not meet {requirement}: make lock"
        )

    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\n$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "LOCK := requirements/dev.lock" in makefile and "--require-hashes -r $(LOCK)" in recipe
    assert "--no-deps --no-build-isolation -e ." in recipe  # its dependencies and build tools: the lock only

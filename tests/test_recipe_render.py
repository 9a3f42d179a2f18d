"""meta.yaml rendered for linux-64, osx-64, win-64 and osx-arm64 as conda-build renders it (tests/recipe_render.py).

Each platform's requirements, pins, skip, build script and test commands are checked against the
project's own sources of truth (pyproject.toml, the package layout, environment.yml); mutated copies
of the recipe show that an unknown key, a broken selector, a requirement missing on one platform,
pin_compatible and an escape from the Jinja sandbox are each caught.
"""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="the recipe is YAML")
pytest.importorskip("jinja2", reason="the recipe is rendered with a sandboxed Jinja")

from jinja2.exceptions import SecurityError  # noqa: E402
from packaging.requirements import Requirement  # noqa: E402
from packaging.specifiers import SpecifierSet  # noqa: E402

from package_layout import package_layout, plugin_layout  # noqa: E402
from recipe_render import (HOST_RUN_EXPORTS, SUBDIR_FLAGS, RecipeError, check_conda_forge_rules,  # noqa: E402
                           check_platform_parity, evaluate_selector, load_variant, render, version_parts)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPOSITORY = Path(__file__).resolve().parents[1]
RECIPE = REPOSITORY / "meta.yaml"
CONFIG = REPOSITORY / "recipe" / "conda_build_config.yaml"
BUILT = ("linux-64", "osx-64", "win-64")
PYPROJECT = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def rendered():
    return {subdir: render(RECIPE, subdir, CONFIG) for subdir in SUBDIR_FLAGS}


def mutated(tmp_path: Path, old: str, new: str, config: str = "") -> Path:
    """A copy of the recipe (with the pyproject.toml it reads) where `old` became `new`."""
    text = RECIPE.read_text()
    assert old in text, f"the mutation no longer applies: {old!r} is not in meta.yaml"
    shutil.copy(REPOSITORY / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "meta.yaml").write_text(text.replace(old, new, 1))
    return tmp_path / "meta.yaml"


def conda_spec(requirement: str) -> str:
    """A PEP 508 requirement as the conda spec the recipe writes: "pefile>=1" -> "pefile >=1"."""
    parsed = Requirement(requirement)
    return f"{parsed.name} {parsed.specifier}".strip()


# --- what each platform gets ---

def test_only_x86_64_platforms_are_built(rendered):
    assert {subdir for subdir, recipe in rendered.items() if recipe.skipped} == {"osx-arm64"}
    assert "Rosetta" in RECIPE.read_text() and "osx-64 env" in RECIPE.read_text()


def test_build_requirements_are_conda_forge_compilers_cmake_and_ninja(rendered):
    expected = {"linux-64": ["gxx_linux-64 13.*", "sysroot_linux-64 2.17.*"],
                "osx-64": ["clangxx_osx-64 18.*", "macosx_deployment_target_osx-64 10.15.*"],
                "win-64": ["vs2019_win-64", "vs_win-64 2019.*"]}
    for subdir in BUILT:
        assert rendered[subdir].requirements("build") == expected[subdir] + ["cmake >=3.18", "ninja"]
        assert rendered[subdir].requirement_roles("build") == sorted(
            ["compiler('cxx')", "stdlib('c')", "cmake", "ninja"])


def test_host_has_the_pinned_python_and_numpy_and_pyprojects_build_backend(rendered):
    build_system = [conda_spec(requirement) for requirement in PYPROJECT["build-system"]["requires"]]
    for subdir in BUILT:
        host = rendered[subdir].requirements("host")
        assert "python 3.10.* *_cpython" in host and "numpy 2.2.*" in host and "pip" in host
        assert set(build_system) <= set(host), f"{subdir}: pyproject's build backend {build_system} not in {host}"


def test_run_requirements_are_pyprojects_dependencies(rendered):
    dependencies = [conda_spec(requirement) for requirement in PYPROJECT["project"]["dependencies"]]
    for subdir in BUILT:
        assert sorted(rendered[subdir].requirements("run")) == sorted(["python"] + dependencies)


def test_python_and_numpy_are_pinned_by_the_build_not_by_hand(rendered):
    for subdir in BUILT:
        depends = rendered[subdir].run_requirements(HOST_RUN_EXPORTS)
        assert "python >=3.10,<3.11.0a0" in depends and "python_abi 3.10.* *_cp310" in depends
        assert [spec for spec in depends if spec.split()[0] == "numpy"] == HOST_RUN_EXPORTS["numpy"]
        assert "pin_compatible" not in rendered[subdir].used
        check_conda_forge_rules(rendered[subdir])
    check_platform_parity(rendered)


def test_version_is_pyprojects_everywhere(rendered):
    version = PYPROJECT["project"]["version"]
    assert {str(recipe.meta["package"]["version"]) for recipe in rendered.values()} == {version}
    # Written once: the packages and CMake read pyproject.toml's, none holds a copy.
    import oe_bootstrap
    import oe_pyproc

    assert oe_pyproc.__version__ == oe_bootstrap.__version__ == version
    assert not re.search(r'__version__ = "', (REPOSITORY / "src/oe_pyproc/__init__.py").read_text())
    assert re.search(r"project\(\S+ VERSION \$\{pyproc_version\}", (REPOSITORY / "CMakeLists.txt").read_text())


def test_each_platform_runs_its_own_build_script(rendered):
    for subdir in ("linux-64", "osx-64"):
        assert rendered[subdir].script == 'bash "${RECIPE_DIR}/recipe/build.sh"'
    assert rendered["win-64"].script == 'call "%RECIPE_DIR%\\recipe\\bld.bat"'
    for script in (REPOSITORY / "recipe" / "build.sh", REPOSITORY / "recipe" / "bld.bat"):
        assert script.is_file()


def test_sources_are_this_repository_and_the_pinned_gui(rendered):
    ours, gui = rendered["linux-64"].meta["source"]
    assert ours == {"path": "."}
    assert gui["git_url"] == "https://github.com/open-ephys/plugin-GUI.git" and gui["folder"] == "plugin-GUI"
    assert re.fullmatch(r"[0-9a-f]{40}", gui["git_rev"]), "pinned by commit id, not by a movable tag"


def test_about_names_the_license_that_ships(rendered):
    about = rendered["linux-64"].meta["about"]
    assert about["license"] == PYPROJECT["project"]["license"]["text"] == "GPL-3.0-or-later"
    assert "GNU GENERAL PUBLIC LICENSE" in (REPOSITORY / about["license_file"]).read_text()[:200]


def test_test_commands_check_the_whole_layout_on_each_platform(rendered):
    for subdir in BUILT:
        commands = rendered[subdir].test_commands
        windows = subdir.startswith("win")
        for role, path in {**package_layout(subdir), **plugin_layout(subdir)}.items():
            written = ("%PREFIX%\\" + path.replace("/", "\\")) if windows else f"$PREFIX/{path}"
            assert any(written in command for command in commands), f"{subdir}: no test command checks {role}"
        assert ("if not exist" in " ".join(commands)) == windows
        assert ("test -" in " ".join(commands)) != windows
        for needed in ("oe-pyproc --version", "python recipe/check_doctor.py", "pip check"):
            assert needed in commands, f"{subdir}: {needed!r} is not a test command"
        host = [command for command in commands if command.startswith("pyproc-host ")]
        assert len(host) == 1 and "--python-home" in host[0] and "--script processor_module.py" in host[0]
        assert set(rendered[subdir].meta["test"]["imports"]) == {"oe_pyproc", "oe_pyprocessor", "oe_bootstrap"}
        for relative in rendered[subdir].meta["test"]["files"]:
            assert (REPOSITORY / relative).is_file()


def test_no_post_link_script_writes_outside_the_env():
    for script in [*REPOSITORY.glob("*-link.*"), *(REPOSITORY / "recipe").glob("*-link.*")]:
        writes = re.findall(r">>?\s*\"?(\S+)", script.read_text())
        assert all(target.rstrip('"').endswith(".messages.txt") for target in writes), (script, writes)


def test_environment_yml_installs_this_package_on_the_recipes_python(rendered):
    from oe_bootstrap import ENV_NAME

    environment = yaml.safe_load((REPOSITORY / "environment.yml").read_text())
    assert environment["name"] == ENV_NAME
    assert environment["channels"][0] == "oe" and "conda-forge" in environment["channels"]
    specs = {str(spec).split()[0]: str(spec) for spec in environment["dependencies"]}
    assert specs["oe::" + rendered["linux-64"].meta["package"]["name"]]
    assert specs["python"].replace(" ", "") == "python=3.10"
    assert "scipy" in specs
    numpy_range = SpecifierSet(specs["numpy"].split(None, 1)[1].replace(" ", ""))
    built_with = ".".join(version_parts(rendered["linux-64"].variant["numpy"])) + ".0"
    assert built_with in numpy_range, f"environment.yml must allow numpy {built_with}, which the package is built with"


# --- the renderer catches what conda-build would refuse ---

def test_an_unknown_key_is_refused(tmp_path):
    for old, new, message in [("about:\n", "abuot:\n  home: x\nabout:\n", "unknown top-level key 'abuot'"),
                              ("  number: 0\n", "  number: 0\n  skp: true\n", "unknown key(s) in build: skp"),
                              ("  imports:\n", "  import:\n    - numpy\n  imports:\n",
                               "unknown key(s) in test: import")]:
        with pytest.raises(RecipeError, match=re.escape(message)):
            render(mutated(tmp_path, old, new), "linux-64", CONFIG)


def test_about_without_license_file_is_refused(tmp_path):
    with pytest.raises(RecipeError, match="about lacks license_file"):
        render(mutated(tmp_path, "  license_file: LICENSE\n", ""), "linux-64", CONFIG)


def test_a_selector_that_does_not_parse_is_refused(tmp_path):
    with pytest.raises(RecipeError, match=r"selector \[linux and\] does not parse"):
        render(mutated(tmp_path, "    - ninja\n", "    - ninja  # [linux and]\n"), "linux-64", CONFIG)
    with pytest.raises(RecipeError, match="uses Call"):
        evaluate_selector("__import__('os')", {})


def test_selectors_follow_conda_builds_names():
    namespace = {"linux": True, "x86_64": True, "py": 310}
    assert evaluate_selector("linux and x86_64", namespace) and not evaluate_selector("not x86_64", namespace)
    assert evaluate_selector("py>=310", namespace) and not evaluate_selector("py<310", namespace)
    assert not evaluate_selector("aarch64", namespace), "an unknown name is false, as in conda-build"


def test_a_requirement_missing_on_one_platform_is_refused(tmp_path):
    recipe = mutated(tmp_path, "    - pybind11 >=2.12\n", "    - pybind11 >=2.12\n    - patchelf  # [linux]\n")
    with pytest.raises(RecipeError, match="patchelf is required on linux-64 but missing on osx-64, win-64"):
        check_platform_parity({subdir: render(recipe, subdir, CONFIG) for subdir in SUBDIR_FLAGS})


def test_pin_compatible_is_refused(tmp_path):
    recipe = render(mutated(tmp_path, "    - python\n    - numpy\n    - rich\n",
                            "    - python\n    - {{ pin_compatible('numpy') }}\n    - rich\n"), "linux-64", CONFIG)
    assert "numpy >=2.2,<3.0a0" in recipe.requirements("run")
    with pytest.raises(RecipeError, match="pin_compatible is obsolete"):
        check_conda_forge_rules(recipe)


def test_a_missing_compiler_is_refused(tmp_path):
    recipe = render(mutated(tmp_path, "    - {{ compiler('cxx') }}\n", ""), "osx-64", CONFIG)
    with pytest.raises(RecipeError, match=re.escape("requirements/build needs {{ compiler('cxx') }}")):
        check_conda_forge_rules(recipe)


def test_without_the_skip_selector_arm64_would_build(tmp_path):
    recipe = render(mutated(tmp_path, "  skip: true  # [not x86_64]\n", ""), "osx-arm64", CONFIG)
    assert not recipe.skipped


def test_pin_subpackage_pins_this_packages_version(tmp_path):
    pin = "{{ pin_subpackage('oe-python-processor', max_pin='x.x') }}"
    recipe = render(mutated(tmp_path, "    - macholib >=1.16\n", f"    - macholib >=1.16\n    - {pin}\n"),
                    "linux-64", CONFIG)
    version = PYPROJECT["project"]["version"]
    major, minor = version.split(".")[:2]
    assert f"oe-python-processor >={version},<{major}.{int(minor) + 1}.0a0" in recipe.requirements("run")


def test_jinja_runs_sandboxed(tmp_path):
    with pytest.raises(SecurityError):
        render(mutated(tmp_path, "  number: 0\n", "  number: {{ ''.__class__.__mro__ }}\n"), "linux-64", CONFIG)


# --- conda_build_config.yaml ---

def test_variant_config_values_are_strings_without_jinja_per_platform():
    text = CONFIG.read_text()
    assert "{{" not in text and "{%" not in text
    for subdir in SUBDIR_FLAGS:
        variant = load_variant(CONFIG, subdir)
        assert all(isinstance(value, str) for value in variant.values())
        assert not any("-" in key for key in variant)
        assert variant["python"] == "3.10.* *_cpython"
    assert load_variant(CONFIG, "osx-64")["MACOSX_DEPLOYMENT_TARGET"] == "10.15"
    assert "MACOSX_DEPLOYMENT_TARGET" not in load_variant(CONFIG, "linux-64")


@pytest.mark.parametrize("old, new, message", [
    ('  - "13"  # [linux]', "  - 13  # [linux]", "cxx_compiler_version value 13 is not a string; quote it"),
    ("cxx_compiler:\n", "cxx-compiler:\n", "key 'cxx-compiler' has a '-'"),
    ('  - "2.2.*"', '  - "{{ numpy_version }}"', "Jinja is not rendered"),
])
def test_variant_config_rules_are_enforced(tmp_path, old, new, message):
    text = CONFIG.read_text()
    assert old in text
    (tmp_path / "conda_build_config.yaml").write_text(text.replace(old, new, 1))
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_variant(tmp_path / "conda_build_config.yaml", "linux-64")

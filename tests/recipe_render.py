"""meta.yaml rendered as conda-build renders it, offline: selectors, then a sandboxed Jinja, then YAML.

Selectors are applied line by line before Jinja (`  # [expr]` keeps the line only where `expr` is
true), with conda-build's names per subdir; unknown names are false. Jinja offers the functions
conda-build puts in a recipe's namespace (compiler, stdlib, pin_subpackage, pin_compatible,
load_file_regex, environ), computed from the variant in conda_build_config.yaml. The checks at the
bottom raise RecipeError for what conda-build or the conda-forge linter would reject.
"""
from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

SUBDIR_FLAGS = {
    "linux-64": {"unix", "linux", "linux64", "x86", "x86_64"},
    "osx-64": {"unix", "osx", "x86", "x86_64"},
    "win-64": {"win", "win64", "x86", "x86_64"},
    "osx-arm64": {"unix", "osx", "arm64"},
}
PLATFORM_FLAGS = sorted(set().union(*SUBDIR_FLAGS.values()))

# conda-build's compilers when the variant names none (its DEFAULT_COMPILERS).
NATIVE_COMPILERS = {"linux": {"c": "gcc", "cxx": "gxx", "fortran": "gfortran"},
                    "osx": {"c": "clang", "cxx": "clangxx", "fortran": "gfortran"},
                    "win": {"c": "vs2017", "cxx": "vs2017", "fortran": "gfortran"}}

# The keys conda-build accepts in each section of meta.yaml (conda_build.metadata.FIELDS).
ALLOWED_KEYS: Dict[str, Optional[set]] = {
    "package": {"name", "version"},
    "source": {"fn", "url", "md5", "sha1", "sha256", "path", "path_via_symlink", "git_url", "git_tag",
               "git_branch", "git_rev", "git_depth", "hg_url", "hg_tag", "svn_url", "svn_rev",
               "svn_ignore_externals", "svn_username", "svn_password", "folder", "no_hoist", "patches"},
    "build": {"number", "string", "entry_points", "osx_is_app", "disable_pip", "features", "track_features",
              "preserve_egg_dir", "no_link", "binary_relocation", "script", "noarch", "noarch_python",
              "has_prefix_files", "binary_has_prefix_files", "ignore_prefix_files",
              "detect_binary_files_with_prefix", "skip_compile_pyc", "rpaths", "rpaths_patcher", "script_env",
              "always_include_files", "skip", "msvc_compiler", "pin_depends", "include_recipe", "preferred_env",
              "preferred_env_executable_paths", "run_exports", "ignore_run_exports", "ignore_run_exports_from",
              "requires_features", "provides_features", "force_use_keys", "force_ignore_keys", "merge_build_host",
              "pre-link", "post-link", "pre-unlink", "missing_dso_whitelist", "error_overdepending",
              "error_overlinking", "overlinking_ignore_patterns", "python_site_packages_path"},
    "outputs": {"name", "version", "number", "script", "script_interpreter", "build", "requirements", "test",
                "about", "extra", "files", "type", "run_exports", "target"},
    "requirements": {"build", "host", "run", "conflicts", "run_constrained"},
    "app": {"entry", "icon", "summary", "type", "cli_opts", "own_environment"},
    "test": {"requires", "commands", "files", "imports", "source_files", "downstreams"},
    "about": {"home", "dev_url", "doc_url", "doc_source_url", "license_url", "license", "summary", "description",
              "license_family", "identifiers", "tags", "keywords", "recipe_maintainers", "license_file",
              "prelink_message", "readme"},
    "extra": None,  # free-form
}
REQUIRED_ABOUT = ("home", "license", "license_file", "summary")

# conda-forge's pin_run_as_build for python: a run requirement on python follows the host's x.x.
PIN_RUN_AS_BUILD = {"python": ("x.x", "x.x")}
# conda-forge's run_exports of the host packages this recipe uses (python 3.10, numpy 2.x).
HOST_RUN_EXPORTS = {"python": ["python_abi 3.10.* *_cp310"], "numpy": ["numpy >=1.21,<3"]}


class RecipeError(Exception):
    """What conda-build would refuse, or what this project's recipe rules forbid."""


# --- selectors ---

SELECTOR_LINE = re.compile(r"^(?P<content>.*?)\s*#\s*\[(?P<expr>[^\[\]]+)\]\s*$")
SELECTOR_NODES = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Eq,
                  ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Name, ast.Load,
                  ast.Constant)


def evaluate_selector(expr: str, namespace: Mapping[str, object]) -> bool:
    """conda-build evaluates selectors as Python; only names, literals, comparisons and and/or/not occur."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as error:
        raise RecipeError(f"selector [{expr}] does not parse: {error.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, SELECTOR_NODES):
            raise RecipeError(f"selector [{expr}] uses {type(node).__name__}, which selectors never need")
    names = {node.id: namespace.get(node.id, False) for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return bool(eval(compile(tree, "<selector>", "eval"), {"__builtins__": {}}, names))


def apply_selectors(text: str, namespace: Mapping[str, object]) -> str:
    kept = []
    for line in text.splitlines():
        match = SELECTOR_LINE.match(line)
        if match is None:
            kept.append(line)
        elif evaluate_selector(match.group("expr"), namespace):
            kept.append(match.group("content"))
    return "\n".join(kept) + "\n"


def selector_namespace(subdir: str, variant: Mapping[str, str]) -> Dict[str, object]:
    if subdir not in SUBDIR_FLAGS:
        raise RecipeError(f"unknown subdir {subdir}")
    namespace: Dict[str, object] = {flag: flag in SUBDIR_FLAGS[subdir] for flag in PLATFORM_FLAGS}
    namespace.update(variant)
    namespace.update(target_platform=subdir, build_platform=subdir, environ={})
    if "python" in variant:
        namespace["py"] = int("".join(version_parts(variant["python"])[:2]))
    if "numpy" in variant:
        namespace["np"] = int("".join(version_parts(variant["numpy"])[:2]))
    return namespace


def version_parts(spec: str) -> List[str]:
    """The leading dotted number of a version spec: "3.10.* *_cpython" -> ["3", "10"]."""
    match = re.match(r"\s*(\d+(?:\.\d+)*)", spec)
    if not match:
        raise RecipeError(f"{spec!r} starts with no version")
    return match.group(1).split(".")


# --- conda_build_config.yaml ---

def load_variant(path: Path, subdir: str) -> Dict[str, str]:
    """The one variant conda_build_config.yaml gives a subdir, after checking conda-build's rules for it."""
    text = path.read_text()
    if "{{" in text or "{%" in text:
        raise RecipeError(f"{path.name}: Jinja is not rendered in conda_build_config.yaml")
    config = yaml.safe_load(apply_selectors(text, selector_namespace(subdir, {}))) or {}
    variant = {}
    for key, values in config.items():
        if "-" in key:
            raise RecipeError(f"{path.name}: key {key!r} has a '-', which conda-build cannot use as a variant name")
        if values is None:  # every value was for other platforms
            continue
        if not isinstance(values, list) or len(values) != 1:
            raise RecipeError(f"{path.name}: {key} must be a list of one value on {subdir}, got {values!r}")
        if not isinstance(values[0], str):
            raise RecipeError(f"{path.name}: {key} value {values[0]!r} is not a string; quote it "
                              f"(conda-build compares variant values as strings)")
        variant[key] = values[0]
    return variant


# --- Jinja functions ---

def pin_range(version: str, min_pin: Optional[str], max_pin: Optional[str]) -> str:
    """">=3.10,<3.11.0a0" from "3.10.13" with x.x and x.x, as conda-build pins."""
    parts = version_parts(version)
    bounds = []
    if min_pin:
        bounds.append(">=" + ".".join(parts[:len(min_pin.split("."))]))
    if max_pin:
        upper = parts[:min(len(max_pin.split(".")), len(parts))]
        upper[-1] = str(int(upper[-1]) + 1)
        bounds.append("<" + ".".join(upper) + ".0a0")
    return ",".join(bounds)


def with_wildcard(spec: str) -> str:
    """conda-build's ensure_valid_spec: a bare version "13" means "13.*"."""
    name, _, version = spec.partition(" ")
    if re.fullmatch(r"\d+(\.\d+)*", version):
        version += ".*"
    return f"{name} {version}".strip()


@dataclass
class RecipeNamespace:
    """What conda-build offers a recipe's Jinja, for one subdir and variant; it records what was used."""

    subdir: str
    variant: Mapping[str, str]
    recipe_dir: Path
    package_version: str = ""
    roles: Dict[str, str] = field(default_factory=dict)  # rendered package name -> "compiler('cxx')" ...
    used: List[str] = field(default_factory=list)

    def _record(self, spec: str, role: str) -> str:
        self.roles[spec.split()[0]] = role
        return spec

    def compiler(self, language: str) -> str:
        self.used.append("compiler")
        system = self.subdir.split("-")[0]
        name = self.variant.get(f"{language}_compiler", NATIVE_COMPILERS[system].get(language, language))
        version = self.variant.get(f"{language}_compiler_version", "")
        return self._record(with_wildcard(f"{name}_{self.subdir} {version}"), f"compiler('{language}')")

    def stdlib(self, language: str) -> str:
        self.used.append("stdlib")
        name = self.variant.get(f"{language}_stdlib")
        if name is None:
            raise RecipeError(f"stdlib('{language}') needs {language}_stdlib in conda_build_config.yaml")
        version = self.variant.get(f"{language}_stdlib_version", "")
        return self._record(with_wildcard(f"{name}_{self.subdir} {version}"), f"stdlib('{language}')")

    def pin_compatible(self, name: str, min_pin: str = "x.x.x.x.x.x", max_pin: str = "x", **_) -> str:
        self.used.append("pin_compatible")
        if name not in self.variant:
            raise RecipeError(f"pin_compatible('{name}') needs {name} in the host environment's variant")
        return f"{name} {pin_range(self.variant[name], min_pin, max_pin)}"

    def pin_subpackage(self, name: str, min_pin: str = "x.x.x.x.x.x", max_pin: str = "x", exact: bool = False) -> str:
        self.used.append("pin_subpackage")
        if not self.package_version:  # the first pass, before the version is known
            return name
        if exact:
            return f"{name} {self.package_version}"
        return f"{name} {pin_range(self.package_version, min_pin, max_pin)}"

    def load_file_regex(self, load_file: str, regex_pattern: str, from_recipe_dir: bool = False, **_):
        self.used.append("load_file_regex")
        # With `path: .` as the first source, the source folder is the recipe's own folder.
        path = self.recipe_dir / load_file
        if not path.is_file():
            raise RecipeError(f"load_file_regex: {load_file} does not exist beside the recipe")
        return re.search(regex_pattern, path.read_text())

    def jinja_globals(self) -> Dict[str, object]:
        return {"compiler": self.compiler, "stdlib": self.stdlib, "pin_compatible": self.pin_compatible,
                "pin_subpackage": self.pin_subpackage, "load_file_regex": self.load_file_regex,
                "environ": {}, "target_platform": self.subdir}


# --- rendering ---

@dataclass
class RenderedRecipe:
    subdir: str
    variant: Dict[str, str]
    meta: dict
    roles: Dict[str, str]
    used: List[str]

    @property
    def skipped(self) -> bool:
        return bool(self.meta.get("build", {}).get("skip", False))

    def requirements(self, section: str) -> List[str]:
        """build/host with conda-build's variant pins applied to bare names; run as written."""
        specs = [str(spec) for spec in (self.meta.get("requirements", {}).get(section) or [])]
        if section in ("build", "host"):
            specs = [f"{spec} {self.variant[spec]}" if spec in self.variant else spec for spec in specs]
        return specs

    def requirement_roles(self, section: str) -> List[str]:
        """Requirement names, with each compiler or stdlib package named by the Jinja call that made it."""
        return sorted(self.roles.get(spec.split()[0], spec.split()[0]) for spec in self.requirements(section))

    def run_requirements(self, host_run_exports: Mapping[str, List[str]]) -> List[str]:
        """The package's final `depends`: run, python pinned as built, and the host packages' run_exports."""
        host_versions = {spec.split()[0]: spec.split()[1] for spec in self.requirements("host") if " " in spec}
        specs = []
        for spec in self.requirements("run"):
            name = spec.split()[0]
            if spec == name and name in PIN_RUN_AS_BUILD and name in host_versions:
                spec = f"{name} {pin_range(host_versions[name], *PIN_RUN_AS_BUILD[name])}"
            specs.append(spec)
        for host_spec in self.requirements("host"):
            specs += host_run_exports.get(host_spec.split()[0], [])
        constrained = {spec.split()[0] for spec in specs if " " in spec}
        unique = []
        for spec in specs:  # a bare name adds nothing beside a constrained spec for the same package
            if spec not in unique and not (" " not in spec and spec in constrained):
                unique.append(spec)
        return unique

    @property
    def build_string(self) -> str:
        """conda-build's form, py310h<hash>_<number>: the hash stands for the rendered build and host pins."""
        pins = "\n".join(self.requirements("build") + self.requirements("host"))
        python = "".join(version_parts(self.variant["python"])[:2])
        return f"py{python}h{hashlib.sha1(pins.encode()).hexdigest()[:7]}_{self.meta['build'].get('number', 0)}"

    @property
    def test_commands(self) -> List[str]:
        return [str(command) for command in self.meta.get("test", {}).get("commands") or []]

    @property
    def script(self) -> str:
        return str(self.meta.get("build", {}).get("script", ""))


def render(recipe: Path, subdir: str, config: Path) -> RenderedRecipe:
    variant = load_variant(config, subdir)
    namespace = RecipeNamespace(subdir, variant, recipe.parent)
    text = apply_selectors(recipe.read_text(), selector_namespace(subdir, variant))
    environment = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    # Two passes, as conda-build renders until the package's version is known to pin_subpackage.
    first = environment.from_string(text).render(namespace.jinja_globals())
    namespace.package_version = str(yaml.safe_load(first).get("package", {}).get("version", ""))
    namespace.roles.clear()
    namespace.used.clear()
    rendered = environment.from_string(text).render(namespace.jinja_globals())
    try:
        meta = yaml.safe_load(rendered)
    except yaml.YAMLError as error:
        raise RecipeError(f"meta.yaml for {subdir} is not YAML after rendering: {error}") from None
    check_keys(meta)
    return RenderedRecipe(subdir, variant, meta, dict(namespace.roles), list(namespace.used))


# --- checks ---

def check_keys(meta: dict) -> None:
    for section, value in meta.items():
        if section not in ALLOWED_KEYS:
            raise RecipeError(f"unknown top-level key {section!r}")
        allowed = ALLOWED_KEYS[section]
        if allowed is None or value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict):
                raise RecipeError(f"{section} must be a mapping (or a list of them), got {item!r}")
            unknown = set(item) - allowed
            if unknown:
                raise RecipeError(f"unknown key(s) in {section}: {', '.join(sorted(unknown))}")
    missing = [key for key in REQUIRED_ABOUT if not meta.get("about", {}).get(key)]
    if missing:
        raise RecipeError(f"about lacks {', '.join(missing)}")


def check_platform_parity(rendered: Mapping[str, RenderedRecipe]) -> None:
    """Every non-skipped platform asks for the same packages (compilers and stdlib by their role)."""
    built = {subdir: recipe for subdir, recipe in rendered.items() if not recipe.skipped}
    for section in ("build", "host", "run"):
        names = {subdir: set(recipe.requirement_roles(section)) for subdir, recipe in built.items()}
        everywhere = set.intersection(*names.values()) if names else set()
        for subdir, present in names.items():
            for extra in sorted(present - everywhere):
                absent = [other for other in names if extra not in names[other]]
                raise RecipeError(f"requirements/{section}: {extra} is required on {subdir} but missing on "
                                  f"{', '.join(absent)}")
    tests = {subdir: sorted(recipe.meta.get("test", {}).get("requires") or []) for subdir, recipe in built.items()}
    if len({tuple(requires) for requires in tests.values()}) > 1:
        raise RecipeError(f"test/requires differ between platforms: {tests}")


def check_conda_forge_rules(recipe: RenderedRecipe) -> None:
    """The conda-forge conventions this recipe keeps (its linter's for compiled code)."""
    if "pin_compatible" in recipe.used:
        raise RecipeError("pin_compatible is obsolete: numpy's run_export pins the runtime numpy")
    if recipe.skipped:
        return
    build = recipe.requirement_roles("build")
    for role in ("compiler('cxx')", "stdlib('c')"):
        if role not in build:
            raise RecipeError(f"requirements/build needs {{{{ {role} }}}}")
    host_names = [spec.split()[0] for spec in recipe.requirements("host")]
    for name in ("python", "numpy"):
        if name not in host_names:
            raise RecipeError(f"requirements/host needs {name}")

"""The module templates, and writing a new module from one."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

DEFAULT_TEMPLATE = "processor_template"


class TemplateError(ValueError):
    pass


def templates_dir() -> Path:
    """Installed inside the package; in a source checkout, the repository's templates/."""
    installed = Path(__file__).resolve().parent / "templates"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "templates"


def available_templates() -> Dict[str, Path]:
    return {path.stem: path for path in sorted(templates_dir().glob("*.py"))}


def template_path(name: str) -> Path:
    templates = available_templates()
    key = name[:-3] if name.endswith(".py") else name
    if key == "processor":
        key = DEFAULT_TEMPLATE
    if key not in templates:
        raise TemplateError(f"no template called '{name}'; choose one of: {', '.join(templates)}")
    return templates[key]


def new_module(name: str, template: str = DEFAULT_TEMPLATE, folder: Path = Path(".")) -> Path:
    """Writes <name>.py from a template; never overwrites a file."""
    target = folder / (name if name.endswith(".py") else f"{name}.py")
    if not target.stem.isidentifier():
        raise TemplateError(f"'{target.stem}' is not a valid Python module name (letters, digits and _ only)")
    source = template_path(template).read_text(encoding="utf-8")
    try:
        with open(target, "x", encoding="utf-8") as out:
            out.write(source)
    except FileExistsError:
        raise TemplateError(f"{target} already exists; choose another name (nothing was overwritten)") from None
    return target

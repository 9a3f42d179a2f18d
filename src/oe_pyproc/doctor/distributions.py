"""The installed distributions of a site-packages folder, from their *.dist-info / *.egg-info metadata."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import List, Optional


def canonical_name(name: str) -> str:
    """PEP 503 normalization: NumPy, numpy and num_py name one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Distribution:
    name: str
    version: str
    path: str  # the .dist-info folder
    installer: Optional[str]  # "pip", "conda", "uv", ... from INSTALLER
    wheel_tags: List[str] = field(default_factory=list)
    requires: List[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return canonical_name(self.name)

    @property
    def is_abi3(self) -> bool:
        return any("-abi3-" in tag for tag in self.wheel_tags)

    def record_files(self) -> List[str]:
        """Files listed in RECORD, relative to site-packages."""
        try:
            with open(os.path.join(self.path, "RECORD"), encoding="utf-8", errors="replace") as stream:
                return [line.split(",")[0] for line in stream if line.strip()]
        except OSError:
            return []


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return stream.read()
    except OSError:
        return ""


def _headers(text: str, key: str) -> List[str]:
    prefix = key.lower() + ":"
    values = []
    for line in text.splitlines():
        if not line.strip():
            break  # the metadata body starts after the first blank line
        if line.lower().startswith(prefix):
            values.append(line[len(prefix):].strip())
    return values


def read_distribution(path: str) -> Optional[Distribution]:
    metadata = _read(os.path.join(path, "METADATA")) or _read(os.path.join(path, "PKG-INFO"))
    names = _headers(metadata, "Name")
    folder = os.path.basename(path)
    stem = folder.rsplit(".", 1)[0]
    name = names[0] if names else stem.split("-")[0]
    versions = _headers(metadata, "Version")
    version = versions[0] if versions else (stem.split("-")[1] if "-" in stem else "")
    installer = _read(os.path.join(path, "INSTALLER")).strip() or None
    tags = _headers(_read(os.path.join(path, "WHEEL")), "Tag")
    return Distribution(name, version, path, installer, tags, _headers(metadata, "Requires-Dist"))


def distributions(site_packages: str) -> List[Distribution]:
    try:
        names = sorted(os.listdir(site_packages))
    except OSError:
        return []
    found = []
    for name in names:
        if name.endswith((".dist-info", ".egg-info")) and os.path.isdir(os.path.join(site_packages, name)):
            dist = read_distribution(os.path.join(site_packages, name))
            if dist:
                found.append(dist)
    return found

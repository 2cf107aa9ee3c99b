"""Maps the repository's top-level folders (docs/STACK.md, Layout) onto one import namespace.

The repository keeps `curation/`, `recipes/` and `launcher/` at the top level (where a reader looks for
them), but every module is imported as `infir.<folder>...`, so nothing pollutes the global namespace with
names as generic as `recipes`. Metadata lives in pyproject.toml; this file only lists packages.
"""

from setuptools import find_packages, setup

ROOTS = {
    "infir": "infir",
    "infir.curation": "curation",
    "infir.recipes": "recipes",
    "infir.launcher": "launcher",
}

packages: list[str] = []
for package, folder in ROOTS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=ROOTS)

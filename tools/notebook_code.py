"""The one way code outside a notebook (tests, benchmark tools) runs a notebook's code.

`load("<stem>", tags=("library", "budget"), run=run)` executes, in
order, the notebook's code cells carrying any of `tags` (cell metadata "tags")
in a fresh module and returns that module's namespace. Tagged cells are plain
Python (no ! or % magics). The module is registered in sys.modules while its
cells run, so @dataclass and pickling find it.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
for _path in (REPO / "notebooks", REPO):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def notebook_path(stem: str) -> Path:
    path = NOTEBOOKS / (stem if stem.endswith(".ipynb") else f"{stem}.ipynb")
    if not path.is_file():
        raise FileNotFoundError(f"no notebook {path}")
    return path


def tagged_cells(stem: str, tags=("library",)) -> list:
    """The sources of the code cells of notebooks/<stem> tagged with any of `tags`, in order."""
    path = notebook_path(stem)
    nb = nbformat.read(path, as_version=4)
    wanted = set(tags)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and wanted & set(c.metadata.get("tags", []))]


def load(stem: str, tags=("library",), **names) -> dict:
    """The namespace after executing the cells of notebooks/<stem> tagged `tags`;
    `names` (for example run=...) are defined before the first cell runs."""
    path = notebook_path(stem)
    sources = tagged_cells(stem, tags)
    if not sources:
        raise LookupError(f"{path.name} has no code cells tagged {', '.join(tags)}")
    module = types.ModuleType(f"notebook_{path.stem}")
    module.__dict__.update(names)
    sys.modules[module.__name__] = module
    for source in sources:
        exec(compile(source, f"{path.name}:{'/'.join(tags)}", "exec", dont_inherit=True), module.__dict__)
    return module.__dict__

"""Write the shared plumbing and the Colab link into every notebook.

    python tools/sync_notebooks.py           # rewrite the notebooks that are out of date
    python tools/sync_notebooks.py --check   # exit 1 naming each stale notebook (a test runs this)

notebooks/hwcommon.py is the one source of the plumbing (edit and test it
there). Each notebook carries a copy in one hidden cell, right after its title:
Colab shows it collapsed (`# @title`, cellView "form"), JupyterLab and VS Code
fold it (metadata jupyter.source_hidden) under its output area, the PDF builder drops it
(tag `remove_cell`), and running it creates the module `hwcommon`, so a
notebook copied alone into an empty folder, or uploaded to Colab, runs as it is.
The copy holds the module's core (settings, seeds, atomic files, the run,
progress bars) and only the sections (`# ---- section: NAME (needs: ...)`) the
notebook uses: those listed in its metadata `hw.sections` (a list of names),
else those that define the `hw.NAME`s its code uses. A notebook that uses a
name of a section it does not embed is refused, naming both.

Jupyter shows a folded cell as a bare ellipsis, so every folded code cell
whose first line is a `# @title` gets one markdown line right above it, saying
what it holds (id "<cell id>-note", tags `remove_cell` and `fold-note`: out of
the PDF, rewritten by each sync).

A companion notebook notebooks/<stem>_beyond.ipynb ("Beyond the homework") also
carries, in the hidden cell with id "graded-library" right after its hwcommon
cell, the code cells of notebooks/<stem>.ipynb tagged "library", concatenated
in order: the companion then runs alone too. Edit those cells in the graded
notebook and run `make sync`; --check reports a stale copy.

The Colab link in each notebook's title cell and in README.md derives from
GITHUB_REPO below: empty while the project is unpublished (the notebooks then
say to upload the file to Colab); set it to "owner/name" when the repository
is on GitHub and run `make sync` to turn the links into Open-in-Colab badges.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import manifest  # noqa: E402

BUNDLE = manifest.load()  # bundle.toml: which notebooks there are, and which is whose companion
NOTEBOOKS = REPO / "notebooks"
SOURCE = NOTEBOOKS / "hwcommon.py"
README = REPO / "README.md"
QUESTIONS = REPO / "docs" / "questions.md"

GITHUB_REPO = ""  # "owner/name" once the repository is public on GitHub
BRANCH = "main"

CELL_ID = "hwcommon"
CELL_TAGS = ["remove_cell"]  # tools/build_pdf.py removes cells with this tag
TITLE = ('# @title Shared plumbing: the `hwcommon` module (profile, device, seeds, outputs{extra})'
         ' { display-mode: "form" }')
SECTION = re.compile(r"^# ---- section: (?P<name>[a-z][a-z0-9-]*)(?: \(needs: (?P<needs>[a-z0-9, -]+)\))?[ \t]*$",
                     re.M)
USE = re.compile(r"\bhw\.([A-Za-z_]\w*)")
FROM_IMPORT = re.compile(r"^[ \t]*from hwcommon import \(?([\w, \t\n]+)\)?", re.M)
GRADED_ID = "graded-library"
GRADED_TAGS = ["remove_cell"]
GRADED_TITLE = ('# @title Library code of {graded} (written by make sync; do not edit)'
                ' { display-mode: "form" }')
NOTE_TAGS = ["remove_cell", "fold-note"]  # the line above a folded cell (Jupyter shows such a cell as "...")
FOLD_TITLE = re.compile(r"^# @title (?P<title>.+?)(?: \{.*\})?[ \t]*$")
LINK = re.compile(r"^(\[!\[Open In Colab\].*|\*Run it in Colab:.*)$", re.M)
README_BEGIN, README_END = "<!-- colab:begin -->", "<!-- colab:end -->"


def colab_url(notebook: str) -> str | None:
    if not GITHUB_REPO:
        return None
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{BRANCH}/notebooks/{notebook}"


def colab_link(notebook: str) -> str:
    url = colab_url(notebook)
    if url:
        return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"
    return ("*Run it in Colab: upload this file (File → Upload notebook at colab.research.google.com); "
            "it needs nothing else from the repository.*")


def sections(module_source: str) -> dict:
    """{name: (source, [needed sections])} of hwcommon.py in file order; "core" is
    everything before the first section marker (every notebook embeds it)."""
    marks = list(SECTION.finditer(module_source))
    found = {"core": (module_source[:marks[0].start()] if marks else module_source, [])}
    for mark, after in zip(marks, marks[1:] + [None]):
        name = mark["name"]
        if name in found:
            raise SystemExit(f"{SOURCE.name}: section {name} is marked twice")
        needs = [n.strip() for n in (mark["needs"] or "").split(",") if n.strip()]
        found[name] = (module_source[mark.start():after.start() if after else len(module_source)], needs)
    order = list(found)
    for name, (_, needs) in found.items():
        for need in needs:
            if need not in found or order.index(need) >= order.index(name):
                raise SystemExit(f"{SOURCE.name}: section {name} needs {need}, which is not a section above it")
    return found


def defined_names(source: str) -> set:
    """The names a piece of module source defines at its top level."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def closure(wanted, found: dict) -> list:
    """The sections `wanted` and every section they need, in file order."""
    chosen, todo = set(), list(wanted)
    while todo:
        name = todo.pop()
        if name not in found or name == "core":
            known = ", ".join(n for n in found if n != "core")
            raise SystemExit(f"unknown hwcommon section {name!r}; the sections are {known}")
        if name not in chosen:
            chosen.add(name)
            todo.extend(found[name][1])
    return [n for n in found if n in chosen]


def used_names(nb) -> set:
    """The hwcommon names a notebook's code uses (hw.NAME, from hwcommon import NAME),
    not counting its embedded copy of hwcommon itself."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and c.get("id") != CELL_ID)
    names = set(USE.findall(code))
    for group in FROM_IMPORT.findall(code):
        names |= {n.strip().split(" as ")[0].strip() for n in group.replace("\n", ",").split(",") if n.strip()}
    return names


def notebook_sections(nb, name: str, module_source: str) -> list:
    """The sections notebook `name` embeds: its metadata hw.sections when set, else
    those defining the names its code uses. A use of a name that the chosen
    sections leave out is refused, naming the name and its section."""
    found = sections(module_source)
    where = {}
    for section, (text, _) in found.items():
        for defined in defined_names(text):
            where.setdefault(defined, section)
    used = used_names(nb)
    declared = nb.metadata.get("hw", {}).get("sections")
    if declared is not None:
        if not isinstance(declared, list) or not all(isinstance(d, str) for d in declared):
            raise SystemExit(f"{name}: metadata hw.sections must be a list of section names; got {declared!r}")
        chosen = closure(declared, found)
    else:
        chosen = closure({where[u] for u in used if where.get(u, "core") != "core"}, found)
    missing = sorted(u for u in used if where.get(u, "core") != "core" and where[u] not in chosen)
    if missing:
        raise SystemExit(f"{name} uses hw.{missing[0]} of hwcommon section {where[missing[0]]}, which its "
                         f"metadata hw.sections ({', '.join(declared or [])}) does not list")
    return chosen


def module_subset(module_source: str, chosen) -> str:
    """hwcommon's core and the `chosen` sections, in file order."""
    return "".join(text for section, (text, _) in sections(module_source).items()
                   if section == "core" or section in chosen)


def cell_source(module_source: str, chosen=None) -> str:
    """The hidden cell that runs `module_source` (hwcommon, cut to the sections
    `chosen`, or whole) as the module hwcommon."""
    if "'''" in module_source:
        raise SystemExit(f"{SOURCE} contains ''' and cannot be embedded in a r'''...''' string")
    extra = "".join(f", {c}" for c in chosen) if chosen is not None else ", datasets"
    return "\n".join([
        TITLE.replace("{extra}", extra),
        "# Generated by `make sync` from notebooks/hwcommon.py, the file to edit; do not edit this cell.",
        "import linecache as _linecache, sys as _sys, types as _types",
        "",
        "_HWCOMMON = r'''" + module_source + "'''",
        "",
        "_sys.modules['hwcommon'] = _module = _types.ModuleType('hwcommon')",
        "_module.__file__ = '<hwcommon>'",
        "_linecache.cache['<hwcommon>'] = (len(_HWCOMMON), None, _HWCOMMON.splitlines(True), '<hwcommon>')",
        "exec(compile(_HWCOMMON, '<hwcommon>', 'exec'), _module.__dict__)",
    ])


def graded_name(name: str) -> str | None:
    """The graded notebook a companion notebook belongs to (None for a graded notebook), as bundle.toml says."""
    stem = name[:-len(".ipynb")] if name.endswith(".ipynb") else name
    try:
        notebook = BUNDLE.notebook(stem)
    except KeyError:
        raise SystemExit(f"notebooks/{stem}.ipynb is not declared in bundle.toml: add a [[notebook]] entry "
                         f"(declared: {', '.join(BUNDLE.stems)})") from None
    return f"{notebook.companion_of}.ipynb" if notebook.companion_of else None


def library_source(graded_path: Path) -> str:
    """The source of a companion's graded-library cell: the code cells of `graded_path`
    tagged "library", in order (read through tools/notebook_code.py, the one loader)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tools import notebook_code
    sources = notebook_code.tagged_cells(str(Path(graded_path).resolve()), ("library",))
    if not sources:
        raise SystemExit(f"{graded_path.name} has no code cells tagged library to copy into its companion")
    return GRADED_TITLE.replace("{graded}", graded_path.name) + "\n" + "\n\n".join(s.strip("\n") for s in sources)


def _is(cell, cell_id: str) -> bool:
    return cell.get("id") == cell_id or cell.metadata.get("id") == cell_id


def cell_by_id(nb, cell_id: str):
    """The one cell with id `cell_id` (the plumbing: "hwcommon"; a companion's copy: "graded-library")."""
    found = [c for c in nb.cells if _is(c, cell_id)]
    if len(found) != 1:
        raise LookupError(f"{len(found)} cells with id {cell_id!r}")
    return found[0]


def fold_note(cell, position: int):
    """The markdown line above a folded code cell that opens with `# @title`, or None."""
    folded = cell.cell_type == "code" and cell.metadata.get("jupyter", {}).get("source_hidden")
    match = FOLD_TITLE.match(cell.source.split("\n", 1)[0]) if folded else None
    if not match:
        return None
    title = match["title"].rstrip(".")
    note = nbformat.v4.new_markdown_cell(f"*Folded below, not part of the answer: {title[0].lower()}{title[1:]}.*")
    note.id = f"{(cell.get('id') or f'cell{position}')[:58]}-note"
    note.metadata["tags"] = list(NOTE_TAGS)
    return note


def with_fold_notes(cells: list) -> list:
    """`cells` without their old fold notes, a fresh one above each folded cell that has a title."""
    out = []
    for position, cell in enumerate(c for c in cells if "fold-note" not in c.metadata.get("tags", [])):
        note = fold_note(cell, position)
        out += [note, cell] if note is not None else [cell]
    return out


def synced(nb, name: str, module_source: str, library: str | None = None) -> None:
    """Put the plumbing cell right after the title cell and the Colab link in the title cell;
    with `library` (a companion notebook), the graded-library cell right after the plumbing
    cell, or in its place if the notebook has one already."""
    old = [c for c in nb.cells if c.get("id") == CELL_ID]
    cells = [c for c in nb.cells if c.get("id") != CELL_ID and CELL_ID not in c.metadata.get("tags", [])
             and "fold-note" not in c.metadata.get("tags", [])]
    title = cells[0]
    if title.cell_type != "markdown" or not title.source.lstrip().startswith("# "):
        raise SystemExit(f"{name}: the first cell must be the markdown title")
    text = LINK.sub("", title.source).rstrip()
    title.source = text + "\n\n" + colab_link(name)
    rest = cells[1:]
    if library is not None:
        copies = [c for c in rest if _is(c, GRADED_ID)]
        if len(copies) > 1:
            raise SystemExit(f"{name}: {len(copies)} cells with id {GRADED_ID}; keep one")
        if copies:
            copy = copies[0]
            if copy.cell_type != "code":
                raise SystemExit(f"{name}: the cell with id {GRADED_ID} must be a code cell")
        else:
            copy = nbformat.v4.new_code_cell("")
            rest.insert(0, copy)
        copy.id = GRADED_ID
        copy.source = library
        copy.metadata["id"] = GRADED_ID
        copy.metadata["tags"] = list(GRADED_TAGS)
        copy.metadata["cellView"] = "form"
        copy.metadata["jupyter"] = {"source_hidden": True}  # folded in JupyterLab and VS Code too, not only in Colab
    nb.cells = [title] + rest  # the sections follow the code as it is now, graded-library copy included
    chosen = notebook_sections(nb, name, module_source)
    source = cell_source(module_subset(module_source, chosen), chosen)
    cell = old[0] if len(old) == 1 and old[0].source == source else nbformat.v4.new_code_cell(source)  # an executed copy keeps its count
    cell.id = CELL_ID
    cell.metadata = {"cellView": "form", "jupyter": {"source_hidden": True}, "tags": CELL_TAGS}
    nb.cells = with_fold_notes([title, cell] + rest)


def essence(nb) -> list:
    """What `make sync` decides in a notebook: each cell's kind, id, source and the metadata
    that hides or collapses it; not outputs or execution counts."""
    return [(c.cell_type, c.get("id") if c.get("id") in (CELL_ID, GRADED_ID) else None, c.source,
             c.metadata.get("tags"), c.metadata.get("cellView"), c.metadata.get("jupyter")) for c in nb.cells]


def readme_block() -> str:
    """The README's notebook table: every notebook of bundle.toml, in PDF order."""
    rows = ["| notebook | answers | run it in Colab |", "| --- | --- | --- |"]
    for notebook in BUNDLE.notebooks:
        name = notebook.file
        answer = (BUNDLE.answers(notebook.stem) if notebook.graded
                  else f"beyond the homework: extensions and checks of `{notebook.companion_of}.ipynb`")
        url = colab_url(name)
        link = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"
                if url else "upload the file")
        rows.append(f"| `notebooks/{name}` | {answer} | {link} |")
    return "\n".join(rows)


def sync_notebooks(notebooks: Path = NOTEBOOKS, check: bool = False) -> list:
    """Sync (or with check=True only inspect) every notebook in `notebooks`; the names of
    the stale ones."""
    notebooks = Path(notebooks)
    module_source = (notebooks / SOURCE.name).read_text()
    stale = []
    for path in sorted(notebooks.glob("*.ipynb")):
        nb = nbformat.reads(path.read_text(), as_version=4)
        before = essence(nb)
        graded = graded_name(path.name)
        library = None
        if graded is not None:
            if not (notebooks / graded).is_file():
                raise SystemExit(f"{path.name} is a companion of {graded}, which is not in {notebooks}")
            library = library_source(notebooks / graded)
        synced(nb, path.name, module_source, library)
        if essence(nb) != before:  # an executed copy (outputs, execution counts) is not stale
            stale.append(path.name)
            if not check:
                tmp = path.with_name(f".{path.name}.tmp")
                tmp.write_text(nbformat.writes(nb) + "\n")
                tmp.replace(path)
    return stale


def questions_block() -> str:
    """docs/questions.md's table: each assignment's questions and the file that answers each."""
    rows = ["| assignment | question | answered in |", "| --- | --- | --- |"]
    for a in BUNDLE.assignments:
        for i, question in enumerate(a.questions):
            stem = a.answers.get(question)
            if stem:
                where = f"`notebooks/{stem}.ipynb`" + "".join(f" (beyond it: `notebooks/{c.stem}.ipynb`)"
                                                             for c in BUNDLE.companions(stem))
            else:
                where = ", ".join(f"`theory/sections/{s}.tex`" for s in a.sections)
            about = f": {a.about[question]}" if question in a.about else ""
            rows.append(f"| {a.short if i == 0 else ''} | {question}{about} | {where} |")
    return "\n".join(rows)


# The generated tables: file -> (begin marker, end marker, the table)
TABLES = {README: (README_BEGIN, README_END, readme_block),
          QUESTIONS: ("<!-- questions:begin -->", "<!-- questions:end -->", questions_block)}


def sync_readme(readme_path: Path = README, check: bool = False) -> bool:
    """Rewrite the generated table of a page (the README's Colab table, docs/questions.md's); whether it was stale."""
    begin, end_marker, block = TABLES[readme_path]
    readme = readme_path.read_text()
    start, end = readme.index(begin) + len(begin), readme.index(end_marker)
    new_readme = readme[:start] + "\n" + block() + "\n" + readme[end:]
    if new_readme == readme:
        return False
    if not check:
        readme_path.write_text(new_readme)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale notebooks")
    args = parser.parse_args()
    stale = sync_notebooks(NOTEBOOKS, check=args.check)
    for page in TABLES:
        if sync_readme(page, check=args.check):
            stale.append(str(page.relative_to(REPO)))
    if args.check and stale:
        print(f"stale copy of the plumbing, graded library code or Colab link in: {', '.join(stale)}; "
              "run `make sync`", file=sys.stderr)
        raise SystemExit(1)
    if not args.check:
        print("synced:", ", ".join(stale) if stale else "nothing to do")


if __name__ == "__main__":
    main()

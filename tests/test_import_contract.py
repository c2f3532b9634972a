"""The import contract: no cycles, the two halves independent, dependencies pointing one way.

The graph is read statically from every ``import`` statement of the project's own
modules. An import inside a function counts (moving an import into a function does not
remove a cycle); an import under ``if TYPE_CHECKING:`` does not, since it never runs.
Run alone with ``python tests/test_import_contract.py``; ``make lint`` does.
"""

from __future__ import annotations

import ast
import fnmatch
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vbq", "metaanalysis")

#: (importer, imported, why): no module matching ``importer`` may import one matching
#: ``imported`` (fnmatch patterns on dotted names), unless the importer is itself part of
#: the command line (:data:`SHELL`). The layers run from input to model to result to
#: view; the command line is a thin shell that nothing below imports.
SHELL = ("vbq.cli", "vbq.commands*", "metaanalysis.cli", "metaanalysis.commands*")
FORBIDDEN: tuple[tuple[str, str, str], ...] = (
    ("vbq*", "metaanalysis*", "the two halves share nothing but packaging"),
    ("metaanalysis*", "vbq*", "the two halves share nothing but packaging"),
    ("vbq.*", "vbq.cli", "the command line sits on top of the library"),
    ("vbq.*", "vbq.commands*", "the command line sits on top of the library"),
    ("metaanalysis.*", "metaanalysis.cli", "the command line sits on top of the library"),
    ("metaanalysis.*", "metaanalysis.commands*", "the command line sits on top of the library"),
    ("vbq.dicom*", "vbq.roi*", "reading DICOM does not depend on ROIs"),
    ("vbq.dicom*", "vbq.score", "reading DICOM does not depend on scoring"),
    ("vbq.dicom*", "vbq.qc", "reading DICOM does not depend on its views"),
    ("vbq.roi*", "vbq.score", "ROIs do not depend on the score built from them"),
    ("vbq.roi*", "vbq.qc", "ROIs do not depend on the views of a result"),
    ("vbq.roi*", "vbq.batch", "ROIs do not depend on batches"),
    ("vbq.score", "vbq.qc", "a score is computed without its figure"),
    ("vbq.score", "vbq.batch", "a score does not know about batches"),
    ("vbq.serve*", "vbq.cli", "the workstation is started by the command line, not the reverse"),
    ("metaanalysis.table", "metaanalysis.models*", "input does not depend on models"),
    ("metaanalysis.models*", "metaanalysis.plots", "models do not depend on views"),
    ("metaanalysis.models*", "metaanalysis.report*", "models do not depend on views"),
    ("metaanalysis.models*", "metaanalysis.reproduce", "models do not depend on their uses"),
    ("metaanalysis.reproduce", "metaanalysis.report*", "computing does not call rendering"),
    ("metaanalysis.reproduce", "metaanalysis.plots", "computing does not call rendering"),
) + tuple(
    # the reading workstation (vbq.serve) sits on top of the library beside the command
    # line: only vbq.commands imports it
    (importer, "vbq.serve*", "the workstation sits on top of the library")
    for importer in ("vbq", "vbq.dicom*", "vbq.roi*", "vbq.phantom*", "vbq.score", "vbq.result",
                     "vbq.qc", "vbq.sr", "vbq.batch", "vbq.agreement", "vbq.values",
                     "vbq.errors", "vbq.fileio", "vbq.levels", "vbq.protocol", "vbq.cutoffs",
                     "vbq.measure", "vbq.masks", "vbq.seeds")
)


def module_name(root: Path, path: Path) -> str:
    """Dotted module name of ``path`` under ``root``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_ids(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else (
                test.attr if isinstance(test, ast.Attribute) else None)
            if name == "TYPE_CHECKING":
                for sub in node.body:
                    skip.update(id(n) for n in ast.walk(sub))
    return skip


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Map every module of ``packages`` under ``root`` to the project modules it imports.

    An ``import a.b.c`` or ``from a.b import c`` is an edge to the deepest project module
    it names (``a.b.c`` when it is a module, else ``a.b``). Edges to a module's own
    package (``__init__``) are kept: importing a package runs it.
    """
    files = {module_name(root, p): p for pkg in packages for p in (root / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip = _type_checking_ids(tree)
        here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                prefix = ".".join([*base, node.module] if node.module else base)
                names = [f"{prefix}.{a.name}" for a in node.names] or [prefix]
            for name in names:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                if name and name != mod and not mod.startswith(name + "."):
                    graph[mod].add(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def violations(graph: dict[str, set[str]],
               rules: tuple[tuple[str, str, str], ...] = FORBIDDEN) -> list[str]:
    """Edges that break a layer rule, as sentences."""
    out = []
    for mod in sorted(graph):
        for dep in sorted(graph[mod]):
            shell = any(fnmatch.fnmatchcase(mod, p) for p in SHELL)
            for importer, imported, why in rules:
                if shell and any(fnmatch.fnmatchcase(imported, p) for p in SHELL):
                    continue
                if fnmatch.fnmatchcase(mod, importer) and fnmatch.fnmatchcase(dep, imported):
                    out.append(f"{mod} imports {dep}: {why}")
    return out


# ------------------------------------------------------------------------------ tests
def test_no_import_cycles():
    found = cycles(import_graph(ROOT, PACKAGES))
    assert not found, "import cycles: " + "; ".join(", ".join(c) for c in found)


def test_layers_point_one_way():
    bad = violations(import_graph(ROOT, PACKAGES))
    assert not bad, "\n".join(bad)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_check_finds_a_cycle_closed_inside_a_function(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import f\n",
        "pkg/b.py": "def f():\n    from pkg import a\n    return a\n",
        "pkg/c.py": "from . import a\n",
    })
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


def test_type_checking_imports_do_not_count(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import f\n",
        "pkg/b.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from pkg.a import X\ndef f(): ...\n"),
    })
    assert cycles(import_graph(tmp_path, ("pkg",))) == []


def test_the_check_finds_a_layer_break(tmp_path):
    _write(tmp_path, {
        "vbq/__init__.py": "", "vbq/score.py": "import vbq.cli\n", "vbq/cli.py": "",
        "metaanalysis/__init__.py": "", "metaanalysis/table.py": "from vbq import score\n",
    })
    bad = violations(import_graph(tmp_path, PACKAGES))
    assert bad == ["metaanalysis.table imports vbq.score: the two halves share nothing but "
                   "packaging",
                   "vbq.score imports vbq.cli: the command line sits on top of the library"]


if __name__ == "__main__":
    g = import_graph(ROOT, PACKAGES)
    problems = [f"import cycle: {', '.join(c)}" for c in cycles(g)] + violations(g)
    print("\n".join(problems) or f"import contract holds ({len(g)} modules)")
    sys.exit(1 if problems else 0)

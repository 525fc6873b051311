"""The package's shape, checked: no import cycles, the façade on top, events and SQL only in the store, HTML only in templates.

Every import statement counts, at module level or inside a function (a lazy import that
keeps the CLI fast is still an edge); only imports under ``if TYPE_CHECKING:`` do not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "audit"

# Entry points that sit above the façade and may import it: the CLI, the demo, and the pytest
# plugin (with the assertion it exposes), which run audits the way a user's code would.
ABOVE_FACADE = (
    "audit",
    "audit.__main__",
    "audit.cli",
    "audit.demo",
    "audit.checks.assertion",
    "audit.checks.pytest_plugin",
    # The recording server and proxy: HTTP entry points over an Auditor (its model, keys, privacy guard).
    "audit.serve",
    # The review workspace's web application (`llm-audit ui`): like the CLI, a thin layer over the
    # Auditor (its logic is audit.review, below the façade).
    "audit.ui",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit_one(other)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        visit(node)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ``audit`` it imports (a ``from pkg import name`` naming a submodule is an edge to it)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                # ``from pkg import sub`` is an edge to the submodule; ``from pkg import name`` to pkg itself.
                targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in modules else origin for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_no_module_of_the_package_is_part_of_an_import_cycle():
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_below_the_facade_imports_it():
    graph = import_graph()
    below = [m for m, targets in graph.items() if "audit.auditor" in targets and not _above(m)]
    assert below == []


def _above(module: str) -> bool:
    return (
        any(module == top or module.startswith(top + ".") for top in ABOVE_FACADE if top != "audit")
        or module == "audit"
    )


def test_evidence_events_are_appended_only_by_the_store():
    """Outside ``audit/store/`` nobody composes an event: each repository's ``append`` writes row and event."""
    offenders = []
    for name, path in _modules().items():
        if name.startswith("audit.store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append":
                owner = node.func.value
                if isinstance(owner, ast.Attribute) and owner.attr == "events":
                    offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


# -- SQL only in the store, HTML only in templates ---------------------------------------------------------

# Calls that run SQL (sqlite3, sqlite-utils) or open a connection to run it.
SQL_CALLS = ("execute", "executemany", "executescript", "query")
SQL_TEXT = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|REPLACE\s+INTO|"
    r"(CREATE|DROP)\s+(TEMP\s+)?(TABLE|INDEX|TRIGGER|VIEW|VIRTUAL\s+TABLE)|ALTER\s+TABLE|PRAGMA\s+\w+|"
    r"BEGIN\s+(IMMEDIATE|EXCLUSIVE|DEFERRED)|WITH\s+RECURSIVE)\b",
    re.DOTALL,
)
# Real element names only: a message's placeholder (``<db>``, ``<key id>``) or a regex group (``(?P<value>...)``) is no markup.
HTML_ELEMENTS = (
    "a abbr article aside b body br button canvas caption circle code col colgroup dd details div dl dt em "
    "figcaption figure footer form g h1 h2 h3 h4 h5 h6 head header hr html i iframe img input label legend li line "
    "link main meta nav ol option p path polygon polyline pre rect script section select small span strong style "
    "sub summary sup svg table tbody td textarea tfoot th thead title tr u ul"
).split()
HTML_TAG = re.compile(r"</?(" + "|".join(HTML_ELEMENTS) + r")(\s[^<>]*)?/?>|<!DOCTYPE", re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants: prose about SQL or markup is allowed, building it is not."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _strings(tree: ast.AST) -> list[ast.Constant]:
    """Every string literal but docstrings (an f-string's literal parts included)."""
    docs = _docstrings(tree)
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def sql_offences(source: str) -> list[int]:
    """Lines that run SQL or write SQL text."""
    tree = ast.parse(source)
    lines = [n.lineno for n in _strings(tree) if SQL_TEXT.search(n.value)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr in SQL_CALLS or (
                node.func.attr == "connect" and isinstance(owner, ast.Name) and owner.id == "sqlite3"
            ):
                lines.append(node.lineno)
    return sorted(set(lines))


def html_offences(source: str) -> list[int]:
    """Lines whose string literals hold an HTML tag."""
    return sorted({n.lineno for n in _strings(ast.parse(source)) if HTML_TAG.search(n.value)})


def test_no_sql_outside_the_store():
    """Only ``audit/store/`` knows SQL: elsewhere nothing calls execute/executemany/query or spells a statement."""
    offenders = {
        name: lines
        for name, path in _modules().items()
        if not (name == "audit.store" or name.startswith("audit.store."))
        and (lines := sql_offences(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_no_html_outside_the_templates():
    """Only ``reports/templates/`` knows HTML: no Python module of the package builds markup."""
    offenders = {
        name: lines for name, path in _modules().items() if (lines := html_offences(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_sql_and_html_finders_find_planted_cases():
    planted_sql = (
        '"""SELECT in a docstring is prose."""\n'
        "def f(store, conn, name):\n"
        '    """Runs DELETE FROM nothing: prose again."""\n'
        '    store.db.execute("SELECT 1")\n'
        "    conn.executemany(q, rows)\n"
        '    text = f"SELECT id FROM {name} WHERE x = 1"\n'
        "    db = sqlite3.connect(name)\n"
        '    sql = "INSERT INTO t VALUES (?)"\n'
        '    note = "select a model, then run `llm-audit verify`; <db>.keys.json"\n'
    )
    assert sql_offences(planted_sql) == [4, 5, 6, 7, 8]
    planted_html = (
        '"""Renders <div> nowhere: a docstring."""\n'
        "def f(name):\n"
        "    a = f\"<td class='x'>{name}</td>\"\n"
        '    b = "</svg>"\n'
        '    c = "<!DOCTYPE html>"\n'
        "    d = \"is not '<key id> ed25519 <base64 key> <name>'\"\n"
        '    e = r"(?P<value>\\d+)"\n'
        '    g = "<br/>"\n'
    )
    assert html_offences(planted_html) == [3, 4, 5, 8]

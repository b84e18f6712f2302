"""No import cycle between the gateway's feature folders.

Every module under gateway/ is parsed with `ast` (imports inside functions count too: a cycle
hidden in a function is still a cycle) and each import is mapped to the folder it lands in
(`gateway/sms`, `gateway/escalation`, ... every sub-package of gateway/). Top-level modules
(gateway/models.py, deps.py, db.py, config.py, app.py, ...) are not folders and not checked here.

The graph must have no cycle once the few known upward imports below are taken out. Each of
those is debt, written down with what it needs; a NEW import that closes a cycle fails this
test and prints the cycle with file:line for each step.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "gateway"

# The shared infrastructure every slice may use; it depends on no feature folder.
BOTTOM = {"messaging"}

# Known upward imports (importer, imported) still closing cycles, each with its reason. Remove
# an entry when its import goes; an entry that no longer matches an import fails the test.
KNOWN_UPWARD_IMPORTS: dict[tuple[str, str], str] = {
    # conversations/service.py and turn.py read the Escalation/AuditEvent tables and call
    # escalation.service.audit (is_with_coordinator, the "with a coordinator" turn). Breaks
    # when the escalation tables + audit() move below conversations (or into gateway/models.py).
    ("conversations", "escalation"):
        "tables Escalation/AuditEvent and audit() used by conversations/service.py, turn.py",
    # outreach/service.py validates a source's region against the Region table.
    ("outreach", "escalation"): "Region table in outreach/service.py",
    # outreach/service.py reads the request's client (abuse/clients.current_client) for its
    # per-client daily cap; abuse/web.py in turn runs turns (conversations -> outreach).
    ("outreach", "abuse"): "abuse.clients.current_client in outreach/service.py",
    # escalation/service.py caps pages through abuse/paging.py, which itself writes audit
    # events and reads StaffUser from escalation (paging belongs with escalation or below it).
    ("escalation", "abuse"): "abuse.paging in escalation/service.py",
    # The staff CLI (an entry point, python -m gateway.escalation.cli) ends console sessions
    # and resets second factors: console/auth.py functions.
    ("escalation", "console"): "console.auth end_all_sessions/reset_second_factor in escalation/cli.py",
    # abuse/web.py answers a refused web chat message with webchat.schemas.BotMessageOut
    # (whose fields come from escalation.notify.EVENT_RESPONSES).
    ("abuse", "webchat"): "webchat.schemas.BotMessageOut in abuse/web.py",
}


def feature_packages() -> set[str]:
    return {p.name for p in GATEWAY.iterdir() if (p / "__init__.py").is_file()}


def module_name(path: Path) -> tuple[str, str]:
    """(module, package it resolves relative imports against)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        name = ".".join(parts[:-1])
        return name, name
    name = ".".join(parts)
    return name, name.rsplit(".", 1)[0]


def imported_names(tree: ast.AST, package: str) -> list[tuple[str, int]]:
    """Every module an import statement may load (anywhere in the file), with its line."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, node.lineno))
            # `from gateway import sms` / `from gateway.sms import outbox` load sub-modules.
            found += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def folder_of(module: str, features: set[str]) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "gateway" and parts[1] in features:
        return parts[1]
    return None


def import_graph() -> dict[str, dict[str, list[str]]]:
    """folder -> imported folder -> ["gateway/x/y.py:12", ...]"""
    features = feature_packages()
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(GATEWAY.rglob("*.py")):
        module, package = module_name(path)
        source = folder_of(module, features)
        if source is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, line in imported_names(tree, package):
            dest = folder_of(target, features)
            if dest is not None and dest != source:
                where = f"{path.relative_to(ROOT)}:{line}"
                if where not in graph[source][dest]:
                    graph[source][dest].append(where)
    return graph


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path) per strongly connected component with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            components.append(component)

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            connect(v)

    cycles = []
    for component in components:
        if len(component) < 2:
            continue
        start = min(component)
        # Shortest way back to start inside the component (breadth first).
        previous: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in previous:
            following = []
            for v in frontier:
                for w in sorted(edges.get(v, ())):
                    if w in component and w not in previous:
                        previous[w] = v
                        following.append(w)
            frontier = following
        path = [start]
        v = previous[start]
        while v != start:
            path.append(v)
            v = previous[v]
        path.append(start)
        cycles.append(list(reversed(path)))
    return cycles


def describe(cycle: list[str], graph: dict[str, dict[str, list[str]]]) -> str:
    lines = [" -> ".join(cycle)]
    for a, b in zip(cycle, cycle[1:]):
        lines.append(f"  {a} -> {b}: " + ", ".join(graph[a][b]))
    return "\n".join(lines)


def test_no_import_cycle_between_feature_folders() -> None:
    graph = import_graph()
    edges = {a: {b for b in targets if (a, b) not in KNOWN_UPWARD_IMPORTS}
             for a, targets in graph.items()}
    cycles = find_cycles(edges)
    assert not cycles, "import cycle between gateway feature folders:\n" + "\n".join(
        describe(c, graph) for c in cycles)


def test_the_known_upward_imports_still_exist() -> None:
    """An entry whose import is gone is removed from the list, so the list only shrinks."""
    graph = import_graph()
    stale = [edge for edge in KNOWN_UPWARD_IMPORTS if not graph.get(edge[0], {}).get(edge[1])]
    assert not stale, f"no longer imported, remove from KNOWN_UPWARD_IMPORTS: {stale}"


def test_shared_messaging_depends_on_no_feature_folder() -> None:
    graph = import_graph()
    for bottom in BOTTOM:
        assert bottom in feature_packages()
        assert not graph.get(bottom), f"gateway/{bottom} imports feature folders: " + "; ".join(
            f"{dest} ({', '.join(where)})" for dest, where in graph[bottom].items())


def test_the_checker_sees_imports_inside_functions_and_reports_the_cycle() -> None:
    tree = ast.parse("def f():\n    from gateway.sms import keywords\n")
    assert ("gateway.sms.keywords", 2) in imported_names(tree, "gateway.abuse")
    tree = ast.parse("from ..escalation import audit\n")
    assert ("gateway.escalation.audit", 1) in imported_names(tree, "gateway.sms")
    graph = {"a": {"b": ["a.py:1"]}, "b": {"c": ["b.py:2"]}, "c": {"a": ["c.py:3"]}}
    cycles = find_cycles({k: set(v) for k, v in graph.items()})
    assert cycles == [["a", "b", "c", "a"]]
    assert "c -> a: c.py:3" in describe(cycles[0], graph)

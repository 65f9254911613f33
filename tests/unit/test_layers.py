"""The import layers hold: no module imports a higher layer, and no modules import each
other in a cycle. Read from the source with ``ast`` (every import counts, those inside
functions and under ``TYPE_CHECKING`` too), so nothing has to run.

Bottom up (README, "How it is built"); a module may import its own layer and below:
0. configuration, extensions, models and the shared web plumbing;
1. sites, storage, identity, audit, the subject registry, enrichment;
2. accounts and consent;
3. collection and email;
4. privacy;
5. reporting;
6. admin, demo and the CLI.
The factory (``app/__init__.py``) alone wires every layer together.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"

LAYERS: dict[str, int] = {
    "app.config": 0,
    "app.extensions": 0,
    "app.models": 0,
    "app.clock": 0,
    "app.database": 0,
    "app.database_postgresql": 0,
    "app.errors": 0,
    "app.http": 0,
    "app.guard": 0,
    "app.sessions": 0,
    "app.ratelimit": 0,
    "app.ratelimit_storage": 0,
    "app.security_headers": 0,
    "app.assets": 0,
    "app.page_assets": 0,
    "app.openapi": 0,
    "app.sites": 1,
    "app.storage": 1,
    "app.identity": 1,
    "app.audit": 1,
    "app.subjects": 1,
    "app.enrichment": 1,
    "app.geoip_update": 1,
    "app.accounts": 2,
    "app.consent": 2,
    "app.collection": 3,
    "app.email": 3,
    "app.privacy": 4,
    "app.reporting": 5,
    "app.admin": 6,
    "app.demo": 6,
    "app.cli": 6,
}
FACTORY = "app"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The layer of ``module``: that of the longest listed prefix."""
    best: tuple[int, int] | None = None
    for prefix, layer in LAYERS.items():
        matches = module == prefix or module.startswith(prefix + ".")
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), layer)
    return None if best is None else best[1]


def imports_of(path: Path, module: str) -> set[str]:
    """Every ``app…`` module that ``path`` imports, resolved to the module imported."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("app"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not (source == "app" or source.startswith("app.")):
                continue
            for alias in node.names:
                # "from app.x import y" imports the module app.x.y when there is one.
                candidate = f"{source}.{alias.name}"
                found.add(candidate if candidate in MODULES else source)
    found.discard(module)
    return found


MODULES = {module_name(path): path for path in APP.rglob("*.py")}
GRAPH = {name: imports_of(path, name) for name, path in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in MODULES if m != FACTORY and layer_of(m) is None)
    assert unplaced == [], f"give these modules a layer in LAYERS and the README: {unplaced}"


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for module, imported in GRAPH.items():
        if module == FACTORY:
            continue
        own = layer_of(module)
        for target in imported:
            if target == FACTORY:
                upward.append(f"{module} imports the factory")
                continue
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs > own:
                upward.append(f"{module} (layer {own}) imports {target} (layer {theirs})")
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    # Tarjan's strongly connected components over the module graph.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, ()):
            if target not in MODULES:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    # The factory imports every package's __init__, which may import the factory's
    # helpers only through app.* modules: a cycle through "app" itself is one too.
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_nothing_but_the_top_imports_reporting() -> None:
    offenders = sorted(
        module
        for module, imported in GRAPH.items()
        if module != FACTORY
        and (layer_of(module) or 0) < LAYERS["app.reporting"]
        and any(t == "app.reporting" or t.startswith("app.reporting.") for t in imported)
    )
    assert not offenders, offenders

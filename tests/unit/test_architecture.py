"""The layout's one direction of imports, checked by walking every production module.

    starter    -> workflows, activities, worker, privacy, settings   (client code on top)
    worker     -> workflows, activities, privacy, settings
    settings   -> activities, privacy, workflows.domain   (every PARTY_ORDERS_* variable)
    privacy    -> privacy                         (the payload codec, for every client)
    activities -> workflows.domain                (side effects carry out the core's effects)
    workflows  -> workflows                       (the durable shells)
    workflows.domain -> workflows.domain, and never Temporal (the pure core)

Every import counts, also those inside functions and ``with`` blocks.

And no module imports itself again through others: the import graph over every package
has no cycle (an import inside a function, which hides a cycle at load time, counts too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The project's own top-level names, and who may import whom.
OURS = ("workflows", "activities", "starter", "worker", "privacy", "settings")
ALLOWED: dict[str, frozenset[str]] = {
    "starter": frozenset(
        {"starter", "workflows", "workflows.domain", "activities", "worker", "privacy", "settings"}
    ),
    "worker": frozenset({"workflows", "workflows.domain", "activities", "privacy", "settings"}),
    "settings": frozenset({"activities", "privacy", "workflows.domain"}),
    "privacy": frozenset({"privacy"}),
    "activities": frozenset({"activities", "workflows.domain"}),
    "workflows": frozenset({"workflows", "workflows.domain"}),
    "workflows.domain": frozenset({"workflows.domain"}),
}


def layer(module: str) -> str | None:
    """The layer a dotted module name belongs to, or None when it is not ours."""
    top = module.split(".")[0]
    if top not in OURS:
        return None
    if module == "workflows.domain" or module.startswith("workflows.domain."):
        return "workflows.domain"
    return top


def imported_modules(source: str) -> list[tuple[int, str]]:
    """Every module an import statement names, with its line. ``from x import y`` counts
    as ``x.y``, so ``from workflows import domain`` is seen as the core, not the shells."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(module: str, source: str) -> list[str]:
    here = layer(module)
    assert here is not None
    problems = []
    for line, name in imported_modules(source):
        if here == "workflows.domain" and name.split(".")[0] == "temporalio":
            problems.append(f"{module}:{line} imports {name}: the domain core never uses Temporal")
        there = layer(name)
        if there is not None and there not in ALLOWED[here]:
            problems.append(f"{module}:{line} imports {name}: {here} may not use {there}")
    return problems


def production_modules() -> list[tuple[str, Path]]:
    modules = [("worker", ROOT / "worker.py"), ("settings", ROOT / "settings.py")]
    for package in ("workflows", "activities", "starter", "privacy"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules.append((name, path))
    return modules


def test_every_layer_is_walked() -> None:
    layers = {layer(name) for name, _ in production_modules()}
    assert layers == set(ALLOWED)


@pytest.mark.parametrize(
    ("module", "path"), production_modules(), ids=[name for name, _ in production_modules()]
)
def test_imports_run_one_way(module: str, path: Path) -> None:
    assert violations(module, path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("module", "source", "complaint"),
    [
        ("workflows.track_party_order", "from activities.registry import X", "workflows may not"),
        ("activities.notifications", "from workflows.visibility import X", "activities may not"),
        ("activities.notifications", "from workflows import visibility", "activities may not"),
        ("worker", "def f():\n    from starter.client import X", "worker may not"),
        ("workflows.domain.tracker", "from temporalio import workflow", "never uses Temporal"),
        ("workflows.domain.tracker", "import workflows.visibility", "may not use workflows"),
        ("workflows.close_party_order", "with x:\n    import starter.cli", "may not use starter"),
        ("privacy.codec", "from workflows.domain import names", "privacy may not"),
        ("activities.portal", "from settings import Settings", "activities may not"),
        ("privacy.keys", "import settings", "privacy may not"),
    ],
)
def test_an_arrow_running_back_up_is_caught(module: str, source: str, complaint: str) -> None:
    problems = violations(module, source)
    assert len(problems) == 1 and complaint in problems[0]


def test_allowed_imports_pass() -> None:
    assert violations("starter.client", "import worker\nfrom workflows import visibility") == []
    assert violations("activities.notifications", "from workflows.domain import names") == []
    assert violations("workflows.delivery", "from workflows.domain.effects import X") == []


# ---------------------------------------------------------------- no import cycles


def import_graph(modules: list[tuple[str, str]]) -> dict[str, set[str]]:
    """Which of the given modules each one imports (every import counts, lazy ones too)."""
    names = {name for name, _ in modules}
    graph: dict[str, set[str]] = {}
    for name, source in modules:
        targets = set()
        for _, imported in imported_modules(source):
            # ``from a.b import c`` names the module a.b.c, or the name c of module a.b.
            while imported and imported not in names:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
            # Importing a.b.c first runs the packages a and a.b: an arrow to each of them,
            # but not to the importer's own packages (already running when it is imported).
            package = imported.rpartition(".")[0]
            while package:
                if package in names and not (name + ".").startswith(package + "."):
                    targets.add(package)
                package = package.rpartition(".")[0]
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of a graph: each strongly connected part of more than one module
    (Tarjan's algorithm), its modules in name order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others() -> None:
    # Over every package: the workflows, the activities, the client code, the worker, the
    # settings and the codec.
    modules = [(name, path.read_text(encoding="utf-8")) for name, path in production_modules()]
    assert cycles(import_graph(modules)) == []


def test_an_import_cycle_is_caught_even_behind_a_lazy_import() -> None:
    modules = [
        ("workflows.domain.model", "from workflows.domain.pause import Pause"),
        ("workflows.domain.pause", "if TYPE_CHECKING:\n    from workflows.domain.model import X"),
        ("workflows.domain.names", "import workflows.domain.model"),
    ]
    assert cycles(import_graph(modules)) == [["workflows.domain.model", "workflows.domain.pause"]]


def test_a_cycle_across_three_modules_is_caught_behind_an_import_in_a_function() -> None:
    modules = [
        ("activities.channels", "from activities.settings import NotificationSettings"),
        ("activities.settings", "def f():\n    from activities.mail import SmtpSettings"),
        ("activities.mail", "from activities import channels"),
        ("activities.portal", "from activities.settings import X"),
    ]
    assert cycles(import_graph(modules)) == [
        ["activities.channels", "activities.mail", "activities.settings"]
    ]
    acyclic = [*modules[:2], ("activities.mail", "import hashlib"), modules[3]]
    assert cycles(import_graph(acyclic)) == []


def test_a_cycle_through_a_package_that_imports_its_modules_is_caught() -> None:
    # starter.local.up imported starter.cli.output, so Python ran starter/cli/__init__.py
    # first, which imports the commands, one of which imports starter.local.up.
    modules = [
        ("starter.cli", "from starter.cli.runner import main"),
        ("starter.cli.runner", "from starter.cli.groups import local"),
        ("starter.cli.groups.local", "from starter.local.up import up"),
        ("starter.cli.output", "import sys"),
        ("starter.local.up", "from starter.cli.output import say"),
    ]
    assert cycles(import_graph(modules)) == [
        ["starter.cli", "starter.cli.groups.local", "starter.cli.runner", "starter.local.up"]
    ]
    # A module of a package importing that package (its own parent) is no cycle.
    own = [
        ("starter.client", "from starter.client.reads import Reads"),
        ("starter.client.reads", "from starter.client import errors"),
        ("starter.client.errors", "import sys"),
    ]
    assert cycles(import_graph(own)) == []


# ---------------------------------------------------------------- one home for settings


def environment_uses(source: str) -> list[int]:
    """The lines that touch the process environment: ``os.environ``, ``os.getenv``,
    ``os.putenv`` (read or written)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv", "putenv", "unsetenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment() -> None:
    # Every PARTY_ORDERS_* variable is read in settings.py; everyone else is handed
    # settings, and nobody passes settings on by changing os.environ.
    touching = {
        name: lines
        for name, path in production_modules()
        if (lines := environment_uses(path.read_text(encoding="utf-8"))) and name != "settings"
    }
    assert touching == {}


def test_a_write_to_the_environment_is_seen() -> None:
    assert environment_uses("import os\nos.environ['PARTY_ORDERS_OUTBOX'] = 'x'") == [2]
    assert environment_uses("import os\nx = os.getenv('PARTY_ORDERS_DEBUG')") == [2]
    assert environment_uses("settings.get('PARTY_ORDERS_DEBUG')") == []


def reached(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module importing ``start`` runs, through whatever imports it makes."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph.get(todo.pop(), set()) - seen:
            seen.add(target)
            todo.append(target)
    return seen


def client_modules(modules: set[str]) -> set[str]:
    return {
        name for name in modules if name == "starter.client" or name.startswith("starter.client.")
    }


def test_the_codec_server_does_not_import_the_client() -> None:
    # The codec server only decodes payloads; its errors come from starter.errors, so it
    # starts without the client API (and Temporal's client behind it), also through the
    # modules it imports.
    modules = [(name, path.read_text(encoding="utf-8")) for name, path in production_modules()]
    assert client_modules(reached(import_graph(modules), "starter.codec_server")) == set()


def test_the_client_reached_through_another_module_is_seen() -> None:
    modules = [
        ("starter.codec_server", "from starter.errors import PartyOrderError"),
        ("starter.errors", "def f():\n    from starter.client.reads import Reads"),
        ("starter.client", "import sys"),
        ("starter.client.reads", "import sys"),
    ]
    assert client_modules(reached(import_graph(modules), "starter.codec_server")) == {
        "starter.client",
        "starter.client.reads",
    }


# ---------------------------------------------------------------- no hidden rules


def rules_defaults(source: str) -> list[tuple[int, str]]:
    """The parameters naming the rules an order is tracked by (``rules``,
    ``rules_version``) that have a default, with their line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        arguments = node.args
        positional = [*arguments.posonlyargs, *arguments.args]
        defaulted = positional[len(positional) - len(arguments.defaults) :]
        defaulted += [
            argument
            for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
            if default is not None
        ]
        found += [(node.lineno, a.arg) for a in defaulted if a.arg in ("rules", "rules_version")]
    return found


def test_no_function_defaults_to_some_rules() -> None:
    # An order is shown and judged by its own rules: a default (the current ones) let the
    # Web UI and the digest judge an order on older rules by the newest.
    defaults = {
        name: found
        for name, path in production_modules()
        if (found := rules_defaults(path.read_text(encoding="utf-8")))
    }
    assert defaults == {}


def test_a_default_for_the_rules_is_seen() -> None:
    assert rules_defaults("def next_due(order, now, rules=CURRENT):\n    pass") == [(1, "rules")]
    assert rules_defaults("def start(spec, *, rules_version: int = 5): ...") == [
        (1, "rules_version")
    ]
    assert rules_defaults("def start(spec, tracking_id=None, *, rules_version: int): ...") == []

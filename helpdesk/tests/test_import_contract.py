"""The import contract of the product code, checked on the source (pure AST: nothing is
imported, no database).

1. No first-party import inside a function: every dependency is visible at the top of its
   module, where the layering below can see it (and import cycles fail at start-up instead of
   hiding behind a lazy import). The one exception is AppConfig.ready() (a method named
   `ready`), where imports must wait for the app registry. importlib.import_module,
   __import__ and import_string of a first-party name count as imports too.
2. Layers: a module imports only its own package and the layers below it.

       helpdesk basics (errors, text, validation, realtime, workspace_cache, settings, processes)
       → accounts → chat (the engine)
       → routing, knowledge, orders (routing: not knowledge; knowledge: not routing;
         orders: only accounts and chat)
       → replies (may use routing and knowledge) → lifecycle → surfaces
       → helpdesk.urls, helpdesk.asgi (the top: anything)

   Surface files living inside an app folder (admin.py, admin_*.py, views.py, *_views.py,
   urls.py, api.py, api_urls.py, forms.py, management/commands/*, search_indexes.py) may
   import anything up to lifecycle, except that nothing under chat/ ever imports routing,
   knowledge, orders, replies, lifecycle or surfaces (string model references such as
   "routing.AgentGroup" are not imports). Below surfaces/, domain modules do not import
   another app's surface files (admin, views, forms...): those sit on top of the domain.
3. No product module is longer than MAX_LINES lines.

Tests (*/tests/), migrations and scripts/ are not product code and are not checked."""

import ast
import fnmatch
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("accounts", "chat", "routing", "knowledge", "orders", "replies", "connectors", "lifecycle", "reports", "surfaces",
            "helpdesk")
SKIPPED_DIRS = {"tests", "migrations", "scripts", "__pycache__"}
MAX_LINES = 600

HELPDESK_BASICS = {
    "helpdesk", "helpdesk.errors", "helpdesk.text", "helpdesk.validation", "helpdesk.realtime", "helpdesk.workspace_cache",
    "helpdesk.settings", "helpdesk.ratelimit", "helpdesk.analysis",
    "helpdesk.middleware",  # NUL refusal and the default CSP: Django only
    "helpdesk.processes",  # starts uvicorn processes for tests and benchmarks: standard library only
    "helpdesk.secret_key", "helpdesk.checks",  # SECRET_KEY source and its deployment check
    "helpdesk.postgresql", "helpdesk.postgresql.base",  # the database backend (Django and psycopg only)
    "helpdesk.channel_layer",  # the embedded default's in-memory channel layer (channels only)
    "helpdesk.async_db",  # statements on the event loop (psycopg and Django settings only)
}
HELPDESK_TOP = {"helpdesk.urls", "helpdesk.asgi"}

_BELOW_APPS = {"basics", "accounts", "chat"}
_DOMAIN = _BELOW_APPS | {"routing", "knowledge", "orders"}
# layer -> the layers its modules may import (its own included)
ALLOWED = {
    "basics": {"basics"},
    "accounts": {"basics", "accounts"},
    "chat": {"basics", "accounts", "chat"},
    "orders": _BELOW_APPS | {"orders"},
    "routing": _BELOW_APPS | {"routing", "orders"},
    "knowledge": _BELOW_APPS | {"knowledge", "orders"},
    "replies": _DOMAIN | {"replies"},
    # Outside channels: inbound into the engine, outbound as durable jobs; lifecycle says when.
    "connectors": _DOMAIN | {"replies", "connectors"},
    # lifecycle: also reports (its worker rolls report aggregates up; flow records agent status changes).
    "lifecycle": _DOMAIN | {"replies", "connectors", "reports", "lifecycle"},
    # Reading past service (issue 18: history search and its exports): the domains below, never the lifecycle.
    "reports": _DOMAIN | {"reports"},
    "surfaces": _DOMAIN | {"replies", "connectors", "lifecycle", "reports", "surfaces"},
    "top": _DOMAIN | {"replies", "connectors", "lifecycle", "reports", "surfaces", "top"},
}
SURFACE_FILE_ALLOWED = ALLOWED["lifecycle"]
SURFACE_FILE_PATTERNS = ("admin.py", "admin_*.py", "views.py", "*_views.py", "urls.py", "api.py", "api_urls.py", "forms.py",
                         "search_indexes.py")
DYNAMIC_IMPORTERS = {"import_module", "__import__", "import_string"}


# --- the product's modules ------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    path: str  # relative to the repository root, e.g. "accounts/actions.py"
    name: str  # dotted, e.g. "accounts.actions" ("accounts" for accounts/__init__.py)

    @property
    def is_package(self):
        return self.path.endswith("__init__.py")


def module_for(relative_path):
    parts = list(Path(relative_path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return Module(str(Path(relative_path).as_posix()), ".".join(parts))


def product_modules(root=ROOT):
    modules = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if SKIPPED_DIRS.intersection(relative.parts[:-1]):
                continue
            modules.append(module_for(relative))
    return modules


def layer_of(name):
    """The layer of a dotted first-party module name (None: a helpdesk module nobody classified)."""
    package = name.split(".")[0]
    if package != "helpdesk":
        return package
    if name in HELPDESK_TOP:
        return "top"
    if name in HELPDESK_BASICS:
        return "basics"
    return None


def is_surface_file(module):
    path = Path(module.path)
    if path.parts[0] in ("surfaces", "helpdesk"):
        return False  # surfaces/ is its own layer; helpdesk modules are classified by name
    if "management" in path.parts and "commands" in path.parts:
        return True
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in SURFACE_FILE_PATTERNS)


def allowed_layers(module):
    own = layer_of(module.name)
    if own is None:
        return None
    if is_surface_file(module):
        return ALLOWED["chat"] if own == "chat" else SURFACE_FILE_ALLOWED | {own}
    return ALLOWED[own]


# --- reading a module's imports -------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    line: int
    text: str  # the statement as written
    targets: tuple  # dotted first-party module names it reaches
    in_function: bool  # inside a function body (other than a `ready` method)


def _is_first_party(name):
    return bool(name) and name.split(".")[0] in PACKAGES


def _resolve_from(module, node):
    """The absolute module a `from ... import` reads from."""
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, module, known):
        self.module, self.known = module, known
        self.imports = []
        self._functions = []  # enclosing functions: (name, is a method)
        self._class_depth = []  # parallel stack: are we directly in a class body?

    def _in_function(self):
        if not self._functions:
            return False
        return not any(name == "ready" and is_method for name, is_method in self._functions)

    def _enter(self, node, kind):
        is_method = bool(self._class_depth) and self._class_depth[-1]
        if kind == "function":
            self._functions.append((node.name, is_method))
        self._class_depth.append(kind == "class")
        self.generic_visit(node)
        self._class_depth.pop()
        if kind == "function":
            self._functions.pop()

    def visit_FunctionDef(self, node):
        self._enter(node, "function")

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self._functions.append(("<lambda>", False))
        self.generic_visit(node)
        self._functions.pop()

    def visit_ClassDef(self, node):
        self._enter(node, "class")

    def _add(self, node, targets):
        targets = tuple(t for t in targets if _is_first_party(t))
        if targets:
            self.imports.append(Import(node.lineno, ast.unparse(node), targets, self._in_function()))

    def visit_Import(self, node):
        self._add(node, [alias.name for alias in node.names])

    def visit_ImportFrom(self, node):
        source = _resolve_from(self.module, node)
        targets = []
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            targets.append(submodule if submodule in self.known else source)
        self._add(node, targets)

    def visit_Call(self, node):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in DYNAMIC_IMPORTERS and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            self._add(node, [node.args[0].value])
        self.generic_visit(node)


def imports_of(module, source, known=frozenset()):
    collector = _ImportCollector(module, known)
    collector.visit(ast.parse(source, filename=module.path))
    return collector.imports


def _nearest_known(name, known):
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def check_module(module, source, known=frozenset(), surface_names=frozenset()):
    """The contract's violations in one module, as "path:line: statement — reason" lines.
    surface_names: the dotted names of the surface files inside app folders."""
    problems = []
    domain = not is_surface_file(module) and layer_of(module.name) not in ("surfaces", "top")
    allowed = allowed_layers(module)
    if allowed is None:
        problems.append(f"{module.path}:1: unclassified helpdesk module — add it to HELPDESK_BASICS or HELPDESK_TOP")
        allowed = set()
    for imp in imports_of(module, source, known):
        where = f"{module.path}:{imp.line}: {imp.text}"
        if imp.in_function:
            problems.append(f"{where} — first-party import inside a function (move it to the top of the module)")
        for target in imp.targets:
            layer = layer_of(_nearest_known(target, known) if known else target)
            if layer is None:
                layer = "basics"  # e.g. an attribute of the helpdesk package
            if layer not in allowed:
                kind = "surface file" if is_surface_file(module) else "module"
                problems.append(f"{where} — {kind} of layer {layer_of(module.name)!r} may not import {target} (layer {layer!r})")
            elif domain and target in surface_names and target.split(".")[0] != module.name.split(".")[0]:
                problems.append(f"{where} — domain module may not import {target}, a surface file of another app")
    return problems


def contract_violations(root=ROOT):
    modules = product_modules(root)
    known = frozenset(m.name for m in modules)
    surface_names = frozenset(m.name for m in modules if is_surface_file(m))
    problems = []
    for module in modules:
        problems += check_module(module, (root / module.path).read_text(encoding="utf-8"), known, surface_names)
    return problems


# --- the checks -----------------------------------------------------------------------------


def test_product_code_keeps_the_import_contract():
    problems = contract_violations()
    assert not problems, f"{len(problems)} import contract violation(s):\n" + "\n".join(problems)


def test_no_product_module_is_too_long():
    long = []
    for module in product_modules():
        lines = len((ROOT / module.path).read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            long.append(f"{module.path}: {lines} lines (at most {MAX_LINES})")
    assert not long, "\n".join(long)


# --- the checker itself (so the checks above cannot pass by seeing nothing) -----------------


def _check(path, source, known=(), surface_names=()):
    return check_module(module_for(path), source, frozenset(known), frozenset(surface_names))


def test_the_walk_sees_the_product_and_skips_tests_and_migrations():
    paths = {m.path for m in product_modules()}
    assert {"accounts/actions.py", "chat/models.py", "replies/config.py", "helpdesk/urls.py"} <= paths
    assert len(paths) > 80
    assert not any(part in SKIPPED_DIRS for path in paths for part in Path(path).parts[:-1])


def test_checker_flags_a_first_party_import_inside_a_function():
    source = "import json\n\ndef f():\n    import os\n    from accounts import models\n    return models\n"
    problems = _check("knowledge/thing.py", source)
    assert len(problems) == 1 and problems[0].startswith("knowledge/thing.py:5: from accounts import models"), problems
    assert "inside a function" in problems[0]


def test_checker_flags_relative_nested_and_dynamic_imports_in_functions():
    source = (
        "import importlib\n"
        "class A:\n"
        "    def save(self):\n"
        "        from . import config\n"
        "def outer():\n"
        "    def inner():\n"
        "        from ..models import X\n"
        "async def later():\n"
        "    return importlib.import_module('replies.config')\n"
    )
    problems = _check("replies/sub/thing.py", source)
    assert [p.split(":")[1] for p in problems] == ["4", "7", "9"], problems


def test_checker_allows_imports_in_app_config_ready_only():
    source = "class C:\n    def ready(self):\n        from chat import hooks\n        from .flow import FLOW\n"
    assert _check("lifecycle/apps.py", source) == []
    assert len(_check("lifecycle/apps.py", "def ready():\n    from chat import hooks\n")) == 1  # not a method


def test_checker_flags_the_engine_importing_upper_layers():
    problems = _check("chat/messages.py", "from routing import actions\nfrom accounts.models import Workspace\n")
    assert len(problems) == 1 and "chat/messages.py:1: from routing import actions" in problems[0], problems
    # chat's surface files are held to the same rule
    assert len(_check("chat/admin.py", "from knowledge.models import Article\n")) == 1
    assert len(_check("chat/management/commands/x.py", "import lifecycle.worker\n")) == 1


def test_checker_applies_the_layers():
    assert _check("accounts/roles.py", "from chat.models import Inbox\n")  # accounts is below chat
    assert _check("accounts/actions.py", "from helpdesk import urls\n", known={"helpdesk", "helpdesk.urls"})
    assert _check("routing/selection.py", "from knowledge import search\n")
    assert _check("knowledge/bot.py", "from replies import auto\n")
    assert _check("orders/actions.py", "from routing.models import AgentGroup\n")
    assert _check("replies/auto.py", "from lifecycle import flow\n")
    assert _check("lifecycle/flow.py", "from surfaces import consumers\n")
    assert _check("helpdesk/text.py", "from accounts import models\n")
    assert _check("helpdesk/new_thing.py", "")  # unclassified
    assert not _check("replies/auto.py", "from routing import actions\nfrom knowledge import search\nfrom chat import messages\n")
    assert not _check("lifecycle/flow.py", "from replies import auto\nfrom helpdesk.errors import DomainError\n")
    assert not _check("surfaces/consumers.py", "from lifecycle import worker\nfrom surfaces.widget import session\n")
    assert not _check("helpdesk/asgi.py", "from surfaces import consumers\n")
    assert not _check("chat/models.py", 'from accounts.models import ObjectPermissionRow\nGROUP = "routing.AgentGroup"\n')


def test_checker_lets_surface_files_in_apps_reach_up_to_lifecycle():
    assert not _check("accounts/api.py", "from chat.staff import set_inbox_access\n")
    assert not _check("knowledge/admin_pages.py", "from lifecycle import flow\n")
    assert not _check("orders/views.py", "from replies import actions\n")
    assert not _check("accounts/management/commands/seed.py", "from knowledge import actions\n")
    assert _check("accounts/views.py", "from surfaces import consumers\n")
    assert _check("accounts/actions.py", "from chat.staff import set_inbox_access\n")  # not a surface file


def test_checker_keeps_domain_modules_off_other_apps_surface_files():
    known, surfaces = {"chat", "chat.admin", "knowledge", "knowledge.search_indexes"}, {"chat.admin", "knowledge.search_indexes"}
    assert _check("routing/actions.py", "from chat.admin import ObjectAccessInline\n", known, surfaces)
    assert not _check("routing/admin.py", "from chat.admin import ObjectAccessInline\n", known, surfaces)
    assert not _check("knowledge/search.py", "from .search_indexes import plain_text\n", known, surfaces)  # its own app


def test_checker_resolves_relative_imports():
    known = {"replies", "replies.config", "replies.models", "knowledge", "knowledge.search"}
    module = module_for("replies/config.py")
    [imp] = imports_of(module, "from .models import Rule\n", frozenset(known))
    assert imp.targets == ("replies.models",)
    [imp] = imports_of(module_for("replies/__init__.py"), "from . import config\n", frozenset(known))
    assert imp.targets == ("replies.config",)
    [imp] = imports_of(module_for("replies/sub/x.py"), "from .. import config\n", frozenset(known))
    assert imp.targets == ("replies.config",)

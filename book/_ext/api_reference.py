"""The API reference: one page per module of a package, generated from its docstrings.

When the build starts (``config-inited``, before the table of contents is read), every module of
``api_package`` whose name has no leading underscore (found by :mod:`pkgutil`, so a module added
or split later appears without editing anything) gets a page ``book/api/<module>.rst``: the
module's docstring, a :mod:`sphinx.ext.autosummary` table of its public names, and one autodoc
entry per name. ``_toc.yml`` lists the pages with ``glob: book/api/*``; ``book/api.md`` shows the
module table with the ``package-modules`` directive (an autosummary table too). The public
names of a module are:

- a module with ``__all__``: the names it lists;
- otherwise: the functions and classes defined in it, its constants (upper-case names it
  assigns), and other module-level data that carries a documentation comment or docstring.

A constant's value is shown when it is short (a long table would bury the page).

A name that a package re-exports from one of its modules (``pcmci_edu.pick`` is
``pcmci_edu.profile.pick``) is documented once, where it is defined, and listed with a link
in the re-exporting package's section.

Docstrings may name a class or function the short way (``:class:`VideoDataset```) or by
the path users import it from (``pcmci_edu.pick``); a ``missing-reference`` handler
resolves such a name to the one documented object it can mean (the object the import path
gives, else the only documented name ending in it) and leaves ambiguous names unresolved,
so ``-n`` still reports them.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)
MAX_VALUE_LENGTH = 120


def package_modules(package_name: str) -> list[str]:
    """The package and its public modules and subpackages, in alphabetical order."""
    package = importlib.import_module(package_name)
    names = [package_name]
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def _documented_data(module: ModuleType) -> set[str]:
    try:
        attribute_docs = ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
    except Exception:  # no source (a compiled module): no attribute docstrings to read
        return set()
    return {name for scope, name in attribute_docs if scope == ""}


def public_names(module: ModuleType) -> list[str]:
    """The names a module offers: ``__all__``, else its own functions, classes, constants and
    documented data."""
    return list(_public_names(module.__name__))


@functools.lru_cache(maxsize=None)
def _public_names(module_name: str) -> tuple[str, ...]:
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return tuple(module.__all__)
    documented = _documented_data(module)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            if value.__module__ == module.__name__:
                names.append(name)
        elif name in documented or (name.isupper() and not isinstance(value, TypeVar)
                                    and _assigned_at_top_level(module.__name__, name)):
            names.append(name)
    return tuple(names)


@functools.lru_cache(maxsize=None)
def _top_level_assignments(module_name: str) -> frozenset[str]:
    """The names the module's own source binds by an assignment (not an import)."""
    source = inspect.getsource(importlib.import_module(module_name))
    names = set()
    for statement in ast.parse(source).body:
        targets = (statement.targets if isinstance(statement, ast.Assign)
                   else [statement.target] if isinstance(statement, ast.AnnAssign) else [])
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return frozenset(names)


def _assigned_at_top_level(module_name: str, name: str) -> bool:
    return name in _top_level_assignments(module_name)


def canonical_home(module: ModuleType, name: str, modules: list[str]) -> str:
    """The module where ``module.name`` is documented: the public module of the package that
    defines it (a function's or class's ``__module__``, or the module whose source assigns a
    constant), else ``module`` itself."""
    value = getattr(module, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        home = value.__module__
        return home if home in modules and name in public_names(importlib.import_module(home)) else module.__name__
    if _assigned_at_top_level(module.__name__, name):
        return module.__name__
    for candidate in modules:
        other = importlib.import_module(candidate)
        if (candidate != module.__name__ and getattr(other, name, None) is value
                and _assigned_at_top_level(candidate, name) and name in public_names(other)):
            return candidate
    return module.__name__


def _autodoc_directive(value: Any) -> str:
    if inspect.isclass(value):
        return "autoclass"
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return "autofunction"
    return "autodata"


def module_rst(module_name: str, modules: list[str]) -> list[str]:
    """reStructuredText for one module's section."""
    module = importlib.import_module(module_name)
    lines = [module_name, "-" * len(module_name), "",
             f".. automodule:: {module_name}", "   :no-members:", ""]
    reexported = []
    documented = _documented_data(module)
    for name in public_names(module):
        if not hasattr(module, name):
            raise AttributeError(f"{module_name}.__all__ names {name!r}, which the module does not define")
        home = canonical_home(module, name, modules)
        if home != module_name:
            reexported.append((name, home))
            continue
        value = getattr(module, name)
        directive = _autodoc_directive(value)
        if directive == "autodata" and name not in documented:
            # No docstring of its own: autodoc would show its type's (dict's, tuple's) instead.
            lines += [f".. py:data:: {name}", f"   :module: {module_name}"]
            if len(repr(value)) <= MAX_VALUE_LENGTH:
                lines.append(f"   :value: {value!r}")
            else:
                lines.append(f"   :type: {type(value).__name__}")
            lines.append("")
            continue
        lines.append(f".. {directive}:: {module_name}.{name}")
        if directive == "autoclass":
            lines += ["   :members:", "   :show-inheritance:"]
        elif directive == "autodata" and len(repr(value)) > MAX_VALUE_LENGTH:
            lines.append("   :no-value:")
        lines.append("")
    if reexported:
        lines += [f"Also importable from ``{module_name}``:", ""]
        lines += [f"- ``{module_name}.{name}``: :py:obj:`{home}.{name}`" for name, home in reexported]
        lines.append("")
    return lines


GENERATED = ".. generated by book/_ext/api_reference.py: edit the docstrings, not this file"
PAGES_FOLDER = "book/api"


def module_page(module_name: str, modules: list[str]) -> str:
    """The reStructuredText page of one module: title, docstring, autosummary table, entries."""
    body = module_rst(module_name, modules)
    module = importlib.import_module(module_name)
    documented = _documented_data(module)
    # Undocumented constants are left out of the table (autosummary would show their type's docstring).
    here = [name for name in public_names(module) if canonical_home(module, name, modules) == module_name
            and (_autodoc_directive(getattr(module, name)) != "autodata" or name in documented)]
    table = []
    if here:  # names relative to the module: automodule made it the current one
        table += [".. rubric:: Contents", "", ".. autosummary::", "   :nosignatures:", ""]
        table += [f"   {name}" for name in here] + [""]
    submodules = [name for name in modules if name.rpartition(".")[0] == module_name]
    if submodules:
        table += [".. rubric:: Modules", "", ".. autosummary::", "   :nosignatures:", ""]
        table += [f"   {name.rpartition('.')[2]}" for name in submodules] + [""]
    title, underline, automodule = body[:2], "=" * len(module_name), body[3:6]
    return "\n".join([GENERATED, "", title[0], underline, "", *automodule, *table, *body[6:]]) + "\n"


def write_module_pages(package_name: str, folder: Path) -> list[str]:
    """Write one page per public module into ``folder`` (only files whose text changed, so an
    incremental build re-reads only those); delete pages of modules that no longer exist."""
    folder.mkdir(parents=True, exist_ok=True)
    modules = package_modules(package_name)
    wanted = {}
    for module_name in modules:
        try:
            wanted[f"{module_name}.rst"] = module_page(module_name, modules)
        except Exception as error:  # report it (a warning: -W fails the build) and go on
            logger.warning("api reference: cannot document %s: %s: %s", module_name, type(error).__name__, error)
    for stale in folder.glob("*.rst"):
        if stale.name not in wanted and stale.read_text().startswith(GENERATED):
            stale.unlink()
    for name, text in wanted.items():
        path = folder / name
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    return modules


class PackageModulesDirective(SphinxDirective):
    """``.. package-modules:: <package>``: an autosummary table of the package's public modules."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        lines = [".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in package_modules(self.arguments[0])]
        self.env.note_reread()  # a module added later must appear on the next build
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="package-modules"), container)
        return container.children


def _generate_pages(app: Sphinx, config: Config) -> None:
    write_module_pages(config.api_package, Path(app.srcdir) / PAGES_FOLDER)


def _import_path_target(target: str) -> str | None:
    """``pcmci_edu.pick`` -> ``pcmci_edu.profile.pick``: where an importable name is defined."""
    module_name, _, attribute = target.rpartition(".")
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError):
        return None
    if inspect.isclass(value) or inspect.isfunction(value):
        return f"{value.__module__}.{value.__qualname__}"
    package = importlib.import_module(module_name)
    if hasattr(package, "__path__"):  # a constant a package re-exports: where its module assigns it
        for info in pkgutil.iter_modules(package.__path__, prefix=f"{module_name}."):
            home = importlib.import_module(info.name)
            if getattr(home, attribute, None) is value and _assigned_at_top_level(info.name, attribute):
                return f"{info.name}.{attribute}"
    return None


def resolve_short_names(app: Sphinx, env: Any, node: Any, contnode: nodes.Element) -> nodes.Element | None:
    """Resolve a Python cross-reference that names a documented object by a short or import path."""
    if node.get("refdomain") != "py" or not node.get("reftarget"):
        return None
    domain = env.get_domain("py")
    target = node["reftarget"].lstrip("~.")
    candidates = [_import_path_target(target)]
    if candidates[0] is None:
        matches = [name for name in domain.objects if name == target or name.endswith(f".{target}")]
        candidates = matches if len(matches) == 1 else []
    for candidate in candidates:
        if candidate in domain.objects:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                       candidate, node, contnode)
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.setup_extension("sphinx.ext.autosummary")
    app.add_config_value("api_package", "pcmci_edu", "env")
    app.add_directive("package-modules", PackageModulesDirective)
    app.connect("config-inited", _generate_pages, priority=100)  # before the toc excludes files it lacks
    app.connect("missing-reference", resolve_short_names)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

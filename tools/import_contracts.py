"""Import-linter contract types of our own (named in pyproject.toml's `contract_types`).

`acyclic_modules`: no module of the given packages reaches itself through imports. Every import
counts, a function-level one too (grimp records them all): an import hidden in a function is
still a dependency, and a cycle through it still ties the two modules together. `ignore_imports`
names the imports still to be removed (each a known way up), so that no new cycle comes in
meanwhile; an ignored import that no longer exists is an error, so the list only shrinks.
"""

from __future__ import annotations

import grimp
from importlinter.application import contract_utils, output
from importlinter.application.contract_utils import AlertLevel
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def strongly_connected_components(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """The groups of two or more modules that import each other, directly or not (Tarjan, iterative)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def imported_by(module: str) -> list[str]:
        return sorted(graph.find_modules_directly_imported_by(module) & modules)

    for root in sorted(modules):
        if root in index:
            continue
        index[root] = lowest[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(imported_by(root)))]
        while work:
            module, pending = work[-1]
            for imported in pending:
                if imported not in index:
                    index[imported] = lowest[imported] = len(index)
                    stack.append(imported)
                    on_stack.add(imported)
                    work.append((imported, iter(imported_by(imported))))
                    break
                if imported in on_stack:
                    lowest[module] = min(lowest[module], index[imported])
            else:
                work.pop()
                if work:
                    lowest[work[-1][0]] = min(lowest[work[-1][0]], lowest[module])
                if lowest[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return sorted(components)


def one_cycle(graph: grimp.ImportGraph, component: list[str]) -> list[str]:
    """A shortest way from the component's first module back to itself, as a list of modules."""
    start = component[0]
    members = set(component)
    best: list[str] | None = None
    for imported in sorted(graph.find_modules_directly_imported_by(start) & members):
        back = graph.find_shortest_chain(importer=imported, imported=start)
        if back is not None and (best is None or len(back) + 1 < len(best)):
            best = [start, *back]
    return best or [start, start]


class AcyclicModulesContract(Contract):
    """No import cycle between any two modules of `containers` (imports inside functions included)."""

    type_name = "acyclic_modules"

    containers = fields.ListField(subfield=fields.StringField())
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        # import-linter hands each contract its own copy of the graph: removing imports here is safe.
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[attr-defined]
            unmatched_alerting=AlertLevel.ERROR,
        )
        modules: set[str] = set()
        for container in self.containers:  # type: ignore[attr-defined]
            modules |= {container} | graph.find_descendants(container)
        components = strongly_connected_components(graph, modules)
        cycles = []
        for component in components:
            cycle = one_cycle(graph, component)
            lines = []
            for importer, imported in zip(cycle, cycle[1:]):
                details = graph.get_import_details(importer=importer, imported=imported)
                lines.append(sorted({detail["line_number"] for detail in details}))
            cycles.append({"modules": component, "cycle": cycle, "line_numbers": lines})
        return ContractCheck(
            kept=not components,
            metadata={"cycles": cycles},
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for found in check.metadata["cycles"]:
            output.print_error(f"{len(found['modules'])} modules import each other: {', '.join(found['modules'])}")
            output.new_line()
            output.print("For example:")
            cycle, line_numbers = found["cycle"], found["line_numbers"]
            for importer, imported, lines in zip(cycle, cycle[1:], line_numbers):
                output.print(f"  {importer} -> {imported} (l. {', '.join(map(str, lines))})")
            output.new_line()

"""A lambda handed to transaction.on_commit runs after the commit and reads its free variables
then, not when it was written: inside a loop it would see the last iteration's values (routing
once queued a chat and published the queue positions of whatever the loop held at commit).
Values must be bound when the callback is registered (functools.partial, or a default argument)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("accounts", "chat", "routing", "knowledge", "orders", "replies", "lifecycle", "surfaces", "helpdesk")


def _assigned_names(loop):
    names = set()
    for node in ast.walk(loop):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _free_names(lam):
    params = {a.arg for a in lam.args.args + lam.args.kwonlyargs + lam.args.posonlyargs}
    return {n.id for n in ast.walk(lam.body) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - params


def late_bound_callbacks(source, filename="<source>"):
    """(line, names) of on_commit lambdas inside a loop that read names the loop assigns."""
    found = []

    def visit(node, loops):
        if isinstance(node, (ast.For, ast.While, ast.AsyncFor)):
            loops = [*loops, node]
        if (isinstance(node, ast.Call) and loops and getattr(node.func, "attr", getattr(node.func, "id", None)) == "on_commit"
                and node.args and isinstance(node.args[0], ast.Lambda)):
            late = _free_names(node.args[0]) & set().union(*(_assigned_names(loop) for loop in loops))
            if late:
                found.append((node.lineno, sorted(late)))
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and child is not node:
                visit(child, [])  # a function defined in a loop starts its own scope
            else:
                visit(child, loops)

    visit(ast.parse(source, filename), [])
    return found


def test_the_checker_flags_a_lambda_reading_loop_variables():
    bad = (
        "while True:\n"
        "    decision = decide()\n"
        "    transaction.on_commit(lambda: publish(decision.group_id))\n"
        "    break\n"
    )
    good = (
        "for item in items:\n"
        "    transaction.on_commit(partial(publish, item))\n"
        "    transaction.on_commit(lambda item=item: publish(item))\n"
        "transaction.on_commit(lambda: publish(items))\n"
    )
    assert late_bound_callbacks(bad) == [(3, ["decision"])]
    assert late_bound_callbacks(good) == []


def test_no_on_commit_callback_reads_loop_variables_late():
    problems = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            for line, names in late_bound_callbacks(path.read_text(), str(path)):
                problems.append(f"{path.relative_to(ROOT)}:{line}: on_commit lambda reads loop variables {names}")
    assert problems == []

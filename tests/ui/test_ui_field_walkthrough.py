"""docs/field-walkthrough.md (the field walkthrough): every screenshot it shows exists, and
every test it names as checking a step exists."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "field-walkthrough.md"


def test_walkthrough_images_and_tests_exist():
    text = DOC.read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) >= 15
    missing = [i for i in images if not (DOC.parent / i).is_file()]
    assert missing == []
    nodes = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text))
    assert len(nodes) >= 10
    absent = []
    for path, name in sorted(nodes):
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        if name not in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}:
            absent.append(f"{path}::{name}")
    assert absent == []
    # each role's table lists its steps with a screenshot on every row
    for role in ("Reader", "Collector", "Supervisor"):
        section = text.split(f"## {role}", 1)[1].split("\n## ", 1)[0]
        rows = [r for r in section.splitlines() if re.match(r"\| \d+\.", r)]
        assert rows and all("![" in r for r in rows), role

"""docs/claims.md cannot rot: every test it names exists, every benchmark file it names exists,
every claim names a test or benchmark or says "unbacked", and its list of unbacked claims is
exactly the rows marked so."""

import ast
import re

from conftest import REPO_ROOT

CLAIMS = REPO_ROOT / "docs" / "claims.md"
TEST_REFERENCE = re.compile(r"\btests/([\w/]+\.py)::(\w+)")
BENCHMARK_REFERENCE = re.compile(r"\bbenchmarks/([\w/]+\.py)")
UNBACKED_ITEM = re.compile(r"^- (\d+): ", re.M)


def claim_rows():
    """`(number, backed_by)` of each row of the claims table."""
    rows = []
    for line in CLAIMS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[0].isdigit():
            rows.append((int(cells[0]), cells[3]))
    return rows


def defined_tests(path):
    """Names of the test functions (module level or in classes) defined in `path`."""
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test")
    }


def test_claims_table_is_numbered_and_every_row_is_backed_or_says_unbacked():
    rows = claim_rows()
    assert len(rows) > 100, "the claims table was not found in docs/claims.md"
    assert [n for n, _ in rows] == list(range(1, len(rows) + 1)), "rows must be numbered 1..N"
    for number, backed_by in rows:
        referenced = TEST_REFERENCE.search(backed_by) or BENCHMARK_REFERENCE.search(backed_by)
        assert referenced or backed_by.startswith("unbacked"), (
            f"claim {number}: names no test or benchmark and does not say unbacked: {backed_by}"
        )


def test_every_test_reference_names_an_existing_test_function():
    missing = []
    functions = {}
    for number, backed_by in claim_rows():
        for file, name in TEST_REFERENCE.findall(backed_by):
            path = REPO_ROOT / "tests" / file
            if file not in functions:
                functions[file] = defined_tests(path) if path.is_file() else set()
            if name not in functions[file]:
                missing.append(f"claim {number}: tests/{file}::{name}")
    assert not missing, "docs/claims.md names tests that do not exist:\n" + "\n".join(missing)


def test_every_benchmark_reference_names_an_existing_file():
    missing = [
        f"claim {number}: benchmarks/{file}"
        for number, backed_by in claim_rows()
        for file in BENCHMARK_REFERENCE.findall(backed_by)
        if not (REPO_ROOT / "benchmarks" / file).is_file()
    ]
    assert not missing, "docs/claims.md names benchmarks that do not exist:\n" + "\n".join(missing)


def test_unbacked_list_is_exactly_the_unbacked_rows():
    text = CLAIMS.read_text()
    assert "## Unbacked claims" in text
    listed = [int(n) for n in UNBACKED_ITEM.findall(text.split("## Unbacked claims", 1)[1])]
    unbacked = [n for n, backed_by in claim_rows() if backed_by.startswith("unbacked")]
    assert listed == unbacked
    rows = claim_rows()
    counts = (
        f"{len(rows)} claims: {len(rows) - len(unbacked)} backed by a test or benchmark, "
        f"{len(unbacked)} unbacked."
    )
    assert counts in text, f"the summary line should read: {counts}"


def test_checker_sees_a_missing_test(tmp_path):
    """The reference pattern finds what the table writes, and a missing name is noticed."""
    line = "| 1 | x | y | `tests/test_claims.py::test_no_such_test`, `benchmarks/zoo.py` |"
    assert TEST_REFERENCE.findall(line) == [("test_claims.py", "test_no_such_test")]
    assert BENCHMARK_REFERENCE.findall(line) == ["zoo.py"]
    assert "test_no_such_test" not in defined_tests(REPO_ROOT / "tests" / "test_claims.py")
    assert "test_checker_sees_a_missing_test" in defined_tests(
        REPO_ROOT / "tests" / "test_claims.py"
    )

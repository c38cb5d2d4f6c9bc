"""`newsletter import PATH…` end to end: real files, the real database, click's runner."""
from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from support.comparisons import (
    FIXTURES,
    JSON_LIST,
    JSON_SLUGS,
    MALFORMED,
    PAGE,
    PAGE_SLUG,
    comparison_json,
    page_lines,
    shared_pages,
)

from newsletter.cli import main
from newsletter.models import Comparison, Review, Tool


@pytest.fixture
def run_import(env):
    def run(*paths):
        return CliRunner().invoke(main, ["import", *map(str, paths)], env=env, catch_exceptions=False)
    return run


def _slugs(session) -> list[str]:
    session.expire_all()
    return sorted(session.scalars(select(Comparison.slug)))


def _counts(session) -> tuple[int, int, int]:
    return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Comparison, Tool, Review))


def test_import_folder_then_again_unchanged(run_import, session):
    result = run_import(FIXTURES)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "created 3, updated 0, unchanged 0, rejected 0"
    assert _slugs(session) == sorted([PAGE_SLUG, *JSON_SLUGS])
    assert _counts(session) == (3, 6, 24)
    stamps = dict(session.execute(select(Comparison.slug, Comparison.updated_at)).all())

    again = run_import(FIXTURES)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "created 0, updated 0, unchanged 3, rejected 0"
    assert _counts(session) == (3, 6, 24)
    session.expire_all()
    assert dict(session.execute(select(Comparison.slug, Comparison.updated_at)).all()) == stamps


def test_edited_page_updates_and_moves_updated_at(run_import, session, tmp_path):
    page = tmp_path / "page.txt"
    shutil.copy(PAGE, page)
    assert run_import(page).exit_code == 0
    before = session.scalar(select(Comparison))
    first_updated, first_id = before.updated_at, before.id

    lines = page_lines()
    lines[12] = "Orbit Notes now also indexes meeting transcripts."
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_import(page)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "created 0, updated 1, unchanged 0, rejected 0"
    session.expire_all()
    after = session.scalar(select(Comparison))
    assert (after.id, after.slug) == (first_id, PAGE_SLUG)
    assert after.updated_at > first_updated
    assert after.tools[0].description == "Orbit Notes now also indexes meeting transcripts."
    assert _counts(session) == (1, 2, 8)


@pytest.mark.parametrize("case_id, mutate, line, words", MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_page_is_rejected_whole_and_the_rest_imports(case_id, mutate, line, words, run_import, session,
                                                               tmp_path):
    bad = tmp_path / "a-bad-page.txt"
    bad.write_bytes(mutate(page_lines()))
    good = tmp_path / "b-good.json"
    good.write_text(json.dumps(comparison_json()), encoding="utf-8")
    result = run_import(tmp_path)
    assert result.exit_code == 1
    assert f"{bad}:{line}: " in result.stderr
    assert words in result.stderr
    assert result.stdout.strip() == "created 1, updated 0, unchanged 0, rejected 1"
    assert _slugs(session) == [JSON_SLUGS[0]]
    assert _counts(session) == (1, 2, 8)


def test_bad_json_file_is_rejected_whole(run_import, session, tmp_path):
    items = json.loads(JSON_LIST.read_text(encoding="utf-8"))
    items[1]["tools"][1]["ship_share"] = "25%"
    items[1]["tools"][0]["reviews"].pop()
    bad = tmp_path / "list.json"
    bad.write_text(json.dumps(items), encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "title": "x",\n  oops\n}', encoding="utf-8")
    result = run_import(bad, broken, PAGE)
    assert result.exit_code == 1
    assert f"{bad}: [1].tools[1].ship_share: must be a whole number from 0 to 100, got a string" in result.stderr
    assert f"{bad}: [1].tools[0].reviews: must be a list of 4 reviews" in result.stderr
    assert f"{broken}:3: not valid JSON" in result.stderr
    assert result.stdout.strip() == "created 1, updated 0, unchanged 0, rejected 2"
    # The first comparison of the list was valid, but the file is rejected whole.
    assert _slugs(session) == [PAGE_SLUG]


def test_unknown_file_type_named_explicitly(run_import, session, tmp_path):
    other = tmp_path / "notes.md"
    other.write_text("# not a comparison\n")
    (tmp_path / "ignored.md").write_text("folders skip other files\n")
    result = run_import(other)
    assert result.exit_code == 1
    assert f"{other}: not a comparison file" in result.stderr
    assert run_import(tmp_path).stdout.strip() == "created 0, updated 0, unchanged 0, rejected 0"
    assert _slugs(session) == []


def test_many_files(run_import, session, tmp_path):
    """Enough files for the progress bar (drawn only on a terminal, so not here)."""
    for number in range(12):
        data = comparison_json()
        data["slug"] = f"kestrel-{number}"
        (tmp_path / f"{number:02d}.json").write_text(json.dumps(data), encoding="utf-8")
    result = run_import(tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "created 12, updated 0, unchanged 0, rejected 0"
    assert len(_slugs(session)) == 12


@pytest.mark.skipif(not shared_pages(), reason="../shared/comparisons is not next to this checkout")
def test_import_the_shared_pages(run_import, session):
    pages = shared_pages()
    result = run_import(pages[0].parent)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"created {len(pages)}, updated 0, unchanged 0, rejected 0"
    assert _slugs(session) == sorted(page.stem for page in pages)
    assert run_import(pages[0].parent).stdout.strip() == f"created 0, updated 0, unchanged {len(pages)}, rejected 0"

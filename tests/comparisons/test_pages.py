"""The page parser and the verdict reading, without a database."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.comparisons import MALFORMED, PAGE, page_bytes, page_lines, shared_pages

from newsletter.comparisons.pages import PageError, parse_page
from newsletter.comparisons.store import slugify
from newsletter.comparisons.verdicts import derive_verdicts, quote_says


def test_fixture_page_fields():
    parsed = parse_page(PAGE.read_bytes(), "orbit.txt")
    assert parsed.title == "Orbit Notes vs Lumen Docs"
    assert parsed.standfirst.startswith("Two team knowledge bases")
    a, b = parsed.tools
    assert (a.category, a.name, a.ship_share, a.community_vote, a.entry_price) == (
        "Knowledge Bases", "Orbit Notes", 75, 40, "Free")
    assert (b.name, b.ship_share, b.community_vote, b.entry_price) == ("Lumen Docs", 50, None, "Paid")
    assert a.tagline == "A shared notebook that answers questions with links to the paragraph it used"
    assert b.description.startswith("Lumen Docs builds a documentation site")
    # Quotes alternate tool A, tool B for each reviewer; the curly quotes are the format, not the text.
    assert [r.reviewer for r in a.reviews] == ["builder", "skeptic", "futurist", "buyer"]
    assert a.reviews[0].quote.startswith("Citations down to the paragraph")
    assert b.reviews[0].quote.startswith("The site generator is fine")
    assert a.reviews[3].quote.startswith("There is no paid plan")
    assert b.reviews[3].quote.endswith("so it's a skip for most of them.")
    assert not any(r.quote.startswith("“") or r.quote.endswith("”") for t in parsed.tools for r in t.reviews)


def test_fixture_page_verdicts():
    a, b = parse_page(PAGE.read_bytes()).tools
    # 75%: the buyer's "Skip as a business bet" is the one skip, so the rest shipped.
    assert [r.verdict for r in a.reviews] == ["ship", "ship", "ship", "skip"]
    # 50%: "I'd skip it" and "it's a skip" are the two skips; "saves this from a skip" is not one.
    assert [r.verdict for r in b.reviews] == ["skip", "ship", "ship", "skip"]


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda lines: ("\r\n".join(lines) + "\r\n").encode(), id="crlf"),
        pytest.param(lambda lines: "\n".join(lines).encode(), id="no-final-newline"),
        pytest.param(lambda lines: "\ufeff".encode() + page_bytes(lines), id="byte-order-mark"),
        pytest.param(lambda lines: page_bytes([line + "  " for line in lines]), id="trailing-spaces"),
    ],
)
def test_tolerated_variations_parse_the_same(encode):
    assert parse_page(encode(page_lines())) == parse_page(PAGE.read_bytes())


@pytest.mark.parametrize("case_id, mutate, line, words", MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_page_names_file_and_line(case_id, mutate, line, words):
    with pytest.raises(PageError) as caught:
        parse_page(mutate(page_lines()), "pages/bad.txt")
    error = caught.value
    assert (error.file, error.line) == ("pages/bad.txt", line), str(error)
    assert words in error.message
    assert str(error).startswith(f"pages/bad.txt:{line}: ")


def test_empty_and_utf16_files():
    with pytest.raises(PageError, match=r"^empty.txt:1: missing line"):
        parse_page(b"", "empty.txt")
    with pytest.raises(PageError, match=r"^wide.txt:1: not UTF-8"):
        parse_page(PAGE.read_text(encoding="utf-8").encode("utf-16"), "wide.txt")


def test_shifted_lines_get_a_hint():
    lines = page_lines()
    del lines[5]
    with pytest.raises(PageError, match=r"line missing or extra above"):
        parse_page(page_bytes(lines))


@pytest.mark.skipif(not shared_pages(), reason="../shared/comparisons is not next to this checkout")
@pytest.mark.parametrize("path", shared_pages(), ids=lambda path: path.name)
def test_every_shared_page_parses(path):
    parsed = parse_page(path.read_bytes(), path.name)
    assert slugify(parsed.title) == path.stem
    assert parsed.title == f"{parsed.tools[0].name} vs {parsed.tools[1].name}"
    for tool in parsed.tools:
        assert len(tool.reviews) == 4 and all(review.quote for review in tool.reviews)
        ships = [review.verdict for review in tool.reviews].count("ship")
        assert ships <= tool.ship_share // 25
        if tool.ship_share == 100:
            assert ships == 4


@pytest.mark.parametrize(
    "quote, says",
    [
        ("Skip as a standalone business bet; ship as infrastructure for someone else's product.", "skip"),
        ("What saves this from a skip: the permissive license is real.", None),
        ("I'm shipping it because the license is rare.", "ship"),
        ("The specific technical decision that earns the ship is the license.", "ship"),
        ("I'd skip it for billing queues.", "skip"),
        ("Per-page pricing with no cap. Skip.", "skip"),
        ("It's a skip until the durability story is fixed.", "skip"),
        ("I wouldn't skip this one.", None),
        ("This is not a skip.", None),
        ("Skip the boilerplate and go straight to the API.", None),
        ("Whatever OpenAI ships next Tuesday will compete.", None),
        ("I'd ship it for research, but it's a skip for sales.", None),  # both: undecided
    ],
)
def test_quote_says(quote, says):
    assert quote_says(quote) == says


def test_derive_verdicts():
    neutral = ["Fine.", "Fine.", "Fine.", "Fine."]
    assert derive_verdicts(100, ["I'd skip it."] + neutral[1:]) == ["ship"] * 4
    assert derive_verdicts(0, neutral) == ["skip"] * 4
    assert derive_verdicts(75, neutral) == ["unknown"] * 4
    assert derive_verdicts(75, ["Fine.", "Fine.", "Fine.", "Skip."]) == ["ship", "ship", "ship", "skip"]
    assert derive_verdicts(25, ["Earns the ship? No: it earns the ship.", "a", "b", "c"]) == ["ship", "skip", "skip", "skip"]
    assert derive_verdicts(50, ["Skip.", "Fine.", "Fine.", "Fine."]) == ["skip", "unknown", "unknown", "unknown"]
    # Two skips read where the share allows one: the reading is wrong somewhere, so claim nothing.
    assert derive_verdicts(75, ["Skip.", "Skip.", "Fine.", "Fine."]) == ["unknown"] * 4
    # A share that is not a whole number of the four reviewers settles nothing.
    assert derive_verdicts(60, ["Skip.", "Fine.", "Fine.", "Fine."]) == ["skip", "unknown", "unknown", "unknown"]
    # Stated verdicts count as said.
    assert derive_verdicts(50, neutral, ["ship", "ship", None, "unknown"]) == ["ship", "ship", "skip", "skip"]


# --- property tests: the parser returns a comparison or raises PageError, nothing else ---

def _parse_or_page_error(data):
    try:
        parsed = parse_page(data, "fuzz.txt")
    except PageError as exc:
        assert exc.file == "fuzz.txt" and exc.line >= 1
        return None
    assert len(parsed.tools) == 2
    for tool in parsed.tools:
        assert 0 <= tool.ship_share <= 100 and tool.name.strip()
        assert [r.reviewer for r in tool.reviews] == ["builder", "skeptic", "futurist", "buyer"]
        assert all(r.verdict in ("ship", "skip", "unknown") for r in tool.reviews)
    assert parsed.title == f"{parsed.tools[0].name} vs {parsed.tools[1].name}"
    return parsed


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=2000)))
def test_arbitrary_input(data):
    _parse_or_page_error(data)


LINE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "—", "75%", "100%", "0%", "101%", "Panel ship", "Community", "Entry", "“”", "“x”",
                     "Reviewer scorecard", "AI tool comparison", "\r", "\x00", "\u2028"]),
)
MUTATION = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("duplicate"), st.integers(0, 40)),
    st.tuples(st.just("swap"), st.integers(0, 40), st.integers(0, 40)),
    st.tuples(st.just("replace"), st.integers(0, 40), LINE_TEXT),
    st.tuples(st.just("insert"), st.integers(0, 40), LINE_TEXT),
    st.tuples(st.just("append"), st.integers(0, 40), LINE_TEXT),
)


def _mutate(lines: list[str], mutation: tuple) -> None:
    kind, at = mutation[0], mutation[1] % (len(lines) + 1)
    if kind == "insert":
        lines.insert(at, mutation[2])
    elif at >= len(lines):
        return
    elif kind == "delete":
        del lines[at]
    elif kind == "duplicate":
        lines.insert(at, lines[at])
    elif kind == "swap":
        other = mutation[2] % len(lines)
        lines[at], lines[other] = lines[other], lines[at]
    elif kind == "replace":
        lines[at] = mutation[2]
    else:
        lines[at] += mutation[2]


@FUZZ
@given(st.lists(MUTATION, min_size=1, max_size=4), st.sampled_from(["\n", "\r\n"]), st.integers(0, 6000),
       st.binary(max_size=3))
def test_mutated_valid_pages(mutations, newline, cut, noise):
    lines = page_lines()
    for mutation in mutations:
        _mutate(lines, mutation)
    data = newline.join(lines).encode("utf-8")
    _parse_or_page_error(data)
    _parse_or_page_error(data[:cut] + noise + data[cut:])

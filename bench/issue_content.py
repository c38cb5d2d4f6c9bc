"""A frozen issue of five comparisons, shaped like the real MJML output: nested
tables, inline styles, quotes, buttons; padded to the size of a real issue."""
from __future__ import annotations

from newsletter.rendering import EMAIL_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER

TOOLS = [("Alpha Code", "Beta Pilot"), ("Cursorial", "Zed Assist"), ("Writely", "Draftsmith"),
         ("Imagery", "Pixel Forge"), ("Meetly", "Notetaker Pro")]
CELL = ('<td style="direction:ltr;font-size:0px;padding:12px 16px;text-align:left;font-family:Helvetica,Arial,'
        'sans-serif;color:#1f2933;line-height:1.5;">{}</td>')


def _comparison(n: int, a: str, b: str) -> str:
    side = "".join(
        CELL.format(
            f"<h3 style=\"margin:0 0 4px;font-size:18px;\">{name}</h3><p style=\"margin:0;color:#52606d;\">"
            f"{name} writes code with you</p><p>Panel ship share: <b>{60 + n}%</b> &middot; Entry price: Free"
            f" &middot; Community vote: {40 + n}%</p><blockquote style=\"border-left:3px solid #cbd2d9;"
            f"margin:8px 0;padding:4px 12px;\">&ldquo;The builder on {name}: it ships, with caveats about "
            f"context windows and review latency.&rdquo; <i>&mdash; Builder</i></blockquote>"
        )
        for name in (a, b)
    )
    return (
        f'<table role="presentation" width="100%" style="border-collapse:collapse;margin:24px 0;">'
        f'<tr><td colspan="2"><h2 style="font-size:22px;margin:0;">{a} vs {b}</h2></td></tr><tr>{side}</tr>'
        f'<tr><td colspan="2" align="center"><a href="https://verdicts.example.com/comparisons/{n}" '
        f'style="display:inline-block;background:#2563eb;color:#fff;padding:10px 18px;border-radius:4px;'
        f'text-decoration:none;">Read the full comparison</a></td></tr></table>\n'
    )


def issue_html(size: int) -> str:
    head = ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Weekly AI Tool Verdicts</title>"
            "<style>" + ".mj-column-per-100{width:100%!important;max-width:100%;}\n" * 20 + "</style></head><body>\n")
    body = "".join(_comparison(n, a, b) for n, (a, b) in enumerate(TOOLS, 1))
    foot = (f'<p style="font-size:12px;color:#7b8794;">Sent to {EMAIL_PLACEHOLDER}. '
            f'<a href="{UNSUBSCRIBE_PLACEHOLDER}">Unsubscribe</a></p></body></html>\n')
    spacer = '<div style="display:none;max-height:0;overflow:hidden;">&nbsp;&zwnj;</div>\n'
    html = head + body
    while len(html) + len(foot) < size:
        html += spacer if len(html) + len(spacer) + len(foot) >= size - 2000 else body
    return html + foot


def issue_text() -> str:
    lines = [f"{a} vs {b}\nRead the full comparison: https://verdicts.example.com/comparisons/{n}\n"
             for n, (a, b) in enumerate(TOOLS, 1)]
    return "Weekly AI Tool Verdicts\n\n" + "\n".join(lines) + f"\nSent to {EMAIL_PLACEHOLDER}.\nUnsubscribe: {UNSUBSCRIBE_PLACEHOLDER}\n"

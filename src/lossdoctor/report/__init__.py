"""Reports: the only part of lossdoctor, with ``cli.py``, that writes for people.

- :mod:`.titles`: human titles for the taxonomy's ids (no dependencies).
- :mod:`.terminal`: the rich terminal report, ``render(diagnoses, console)``.
- :mod:`.html`: the self-contained HTML report, ``write_html(diagnoses, path)``; what it draws
  is in :mod:`.plots`, the same plots as PNG in :mod:`.png`.

Importing this package does not import rich: :func:`render` loads it on first use, so the
JSON output and the command's start-up stay fast.
"""

from __future__ import annotations

from .titles import CAUSE_TITLES, SYMPTOM_TITLES, cause_title, symptom_title


def render(diagnoses, console=None) -> None:
    """Render one diagnosis or a list of them to ``console`` (a ``rich.console.Console``;
    stdout when omitted). See :func:`lossdoctor.report.terminal.render`."""
    from .terminal import render as _render

    _render(diagnoses, console)


def write_html(diagnoses, path, **kw):
    """Write the HTML report of one diagnosis or several: see
    :func:`lossdoctor.report.html.write_html`."""
    from .html import write_html as _write_html

    return _write_html(diagnoses, path, **kw)


__all__ = ["render", "write_html", "cause_title", "symptom_title", "CAUSE_TITLES", "SYMPTOM_TITLES"]

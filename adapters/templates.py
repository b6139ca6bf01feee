"""Email templates (Jinja2), one pair per message: ``<name>.txt`` (its first line is
``Subject: ...``) and ``<name>.html`` (autoescaped: names are user input)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from domain.notifications import RenderedEmail

FOLDER = Path(__file__).resolve().parent / "templates"


class JinjaRenderer:
    def __init__(self, folder: Path = FOLDER) -> None:
        self._env = Environment(
            loader=FileSystemLoader(folder),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,  # a missing value is a bug, not an empty string
            keep_trailing_newline=True,
        )

    def render(self, template: str, context: Mapping[str, Any]) -> RenderedEmail:
        text = self._env.get_template(f"{template}.txt").render(context)
        first, _, body = text.partition("\n")
        if not first.startswith("Subject: "):
            raise ValueError(f"{template}.txt must start with a 'Subject: ' line")
        html = self._env.get_template(f"{template}.html").render(context)
        return RenderedEmail(
            subject=first.removeprefix("Subject: "), text=body.lstrip("\n"), html=html
        )

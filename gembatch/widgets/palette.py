"""Rich styles for states, computed once per Textual theme.

Asking the app for its theme variables regenerates the whole theme; doing that per cell
made a 10,000-row table take seconds to draw, so the styles are cached by theme name.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from textual.app import App
from textual.color import Color

from gembatch import states


@dataclass(frozen=True)
class Palette:
    """The colours the monitor draws with, for one theme."""

    kinds: dict[states.Kind, Style]
    checking_background: Style

    def kind(self, kind: states.Kind) -> Style:
        return self.kinds[kind]


_cache: dict[str, Palette] = {}


def palette(app: App) -> Palette:
    name = str(app.theme)
    if name not in _cache:
        _cache[name] = _build(app.get_css_variables())
    return _cache[name]


def _build(theme: dict[str, str]) -> Palette:
    kinds = {kind: Style(color=_colour(theme, kind)) for kind in states.Kind}
    background = Color.parse(theme.get("primary-muted", theme.get("primary", "#004578"))).hex
    return Palette(kinds, Style(bgcolor=background))


def _colour(theme: dict[str, str], kind: states.Kind) -> str:
    name = states.KIND_STYLE[kind].lstrip("$")
    if name in ("text-muted", "text-disabled"):
        background = Color.parse(theme.get("background", "#000000"))
        foreground = Color.parse(theme.get("foreground", "#ffffff"))
        return background.blend(foreground, 0.6 if name == "text-muted" else 0.4).hex
    return Color.parse(theme.get(name, "#ffffff")).hex

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
    colours = {kind: _colour(theme, kind) for kind in states.Kind}
    # One colour per state, in every theme: where the accent is also a state's colour
    # (textual-dark's is the warning orange), cancelled takes the next that is not.
    taken = {
        colours[k] for k in states.Kind if k not in (states.Kind.CANCELLED, states.Kind.UNKNOWN)
    }
    if colours[states.Kind.CANCELLED] in taken:
        spare = (_parsed(theme.get(name)) for name in ("primary", "secondary", "accent"))
        colours[states.Kind.CANCELLED] = next((c for c in spare if c and c not in taken), "magenta")
    kinds = {kind: Style(color=colour) for kind, colour in colours.items()}
    background = _parsed(theme.get("primary-muted")) or _parsed(theme.get("primary")) or "blue"
    return Palette(kinds, Style(bgcolor=background))


def _colour(theme: dict[str, str], kind: states.Kind) -> str:
    name = states.KIND_STYLE[kind].lstrip("$")
    if name in ("text-muted", "text-disabled"):
        background = _parsed(theme.get("background")) or "#000000"
        foreground = _parsed(theme.get("foreground")) or "#ffffff"
        if not (background.startswith("#") and foreground.startswith("#")):
            # An ANSI theme (the terminal's own colours): nothing to blend; its greys.
            return "bright_black" if name == "text-disabled" else "default"
        blend = 0.6 if name == "text-muted" else 0.4
        return Color.parse(background).blend(Color.parse(foreground), blend).hex
    return _parsed(theme.get(name)) or "default"


def _parsed(value: str | None) -> str | None:
    """A theme colour as Rich reads it (`#rrggbb`, or an ANSI name such as `yellow`);
    None for what cannot be read (an ANSI colour with an alpha, `ansi_blue 50%`)."""
    if not value:
        return None
    try:
        colour = Color.parse(value)
    except Exception:  # (textual's ColorParseError; an odd theme must not stop the screen)
        return None
    return colour.hex.removeprefix("ansi_") if colour.ansi is not None else colour.hex

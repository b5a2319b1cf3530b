from typing import Any

from django import template
from django.utils.safestring import SafeString

from labelling.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render user or model text as sanitised markdown: `{{ body|markdown }}`."""
    return render_markdown(text)


@register.filter
def lookup(mapping: object, key: object) -> Any:
    """`{{ ratings|lookup:criterion.key }}`: a dict value by a key held in a variable."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(key)


@register.filter
def index(sequence: Any, position: object) -> Any:
    """`{{ rows|index:forloop.counter0 }}`: an item of a list by a position in a variable."""
    try:
        return sequence[position]
    except (IndexError, TypeError, KeyError):
        return None


@register.filter
def percent(share: float | None) -> str:
    """`{{ 0.8|percent }}` is "80%": a share as a whole percentage."""
    return "" if share is None else f"{share:.0%}"

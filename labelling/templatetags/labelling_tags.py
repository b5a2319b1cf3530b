from django import template

from labelling.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str):
    """Render user or model text as sanitised markdown: `{{ body|markdown }}`."""
    return render_markdown(text)

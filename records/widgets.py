"""Form widgets written in Python where Django's templates cost too much per page."""

from __future__ import annotations

from django import forms
from django.utils.safestring import SafeData, mark_safe

from records.escaping import escaped


class QuickSelect(forms.Select):
    """A <select>, byte for byte what Django's select.html writes, without its templates.

    Django writes every <option> through two more templates (select_option.html and
    attrs.html); the changes page's four menus (people, fields, channels, the latest
    fifty operations) spent a fifth of its server time there.
    """

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [f'<select name="{escaped(widget["name"])}"{_attrs(widget["attrs"])}>']
        for group_name, group_choices, _ in widget["optgroups"]:
            if group_name:
                parts.append(f'\n  <optgroup label="{escaped(group_name)}">')
            for option in group_choices:
                parts.append(
                    f'\n  <option value="{escaped(_format(option["value"]))}"'
                    f"{_attrs(option['attrs'])}>{escaped(option['label'])}</option>\n"
                )
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every value is escaped above


def _format(value):
    """`value|stringformat:'s'`."""
    text = str(value) if isinstance(value, tuple) else "%s" % (value,)  # noqa: UP031 - as the filter
    return mark_safe(text) if isinstance(value, SafeData) else text  # noqa: S308 - safe already


def _attrs(attrs: dict) -> str:
    """django/forms/widgets/attrs.html."""
    return "".join(
        f" {escaped(name)}" if value is True else f' {escaped(name)}="{escaped(_format(value))}"'
        for name, value in attrs.items()
        if value is not False
    )

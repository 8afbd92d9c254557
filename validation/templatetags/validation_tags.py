from django import template

from validation.permissions import is_admin
from validation.report_text import format_number

register = template.Library()


@register.filter
def admin_role(user) -> bool:
    return is_admin(user)


@register.filter
def num(value, digits: int = 3) -> str:
    """A float with `digits` decimals; "–" for None/NaN; "∞" for inf (report_text.format_number)."""
    return format_number(value, digits)

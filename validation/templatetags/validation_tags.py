from django import template

from validation.permissions import is_admin

register = template.Library()


@register.filter
def admin_role(user) -> bool:
    return is_admin(user)


@register.filter
def num(value, digits: int = 3) -> str:
    """A float with `digits` decimals; "–" for None/NaN; "∞" for inf."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    if v != v:
        return "–"
    if v in (float("inf"), float("-inf")):
        return "∞" if v > 0 else "-∞"
    return f"{v:.{int(digits)}f}"

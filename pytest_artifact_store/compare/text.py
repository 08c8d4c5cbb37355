"""Plain-text tables and numbers, as the CLI and the plugin's terminal summary print them."""

from __future__ import annotations

from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Columns padded to their widest cell; ``right`` holds the right-aligned columns."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def fmt_number(value: object) -> str:
    """Numbers as a person reads them: 12, 0.5833, 1900.87, -3.5e-07."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    if abs(value) < 1e-4 or abs(value) >= 1e15:
        return f"{value:.4g}"
    return f"{value:.4f}".rstrip("0").rstrip(".")

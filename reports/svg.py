"""The topology diagram's SVG, re-checked before it goes inline into the HTML report.

The SVG was drawn by Graphviz from names the network reported and then sat in the store;
the report trusts neither. It is parsed and rebuilt from an allowlist of drawing elements
and attributes: no script, no foreignObject, no event handler, no link or reference that
could make the browser fetch anything.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ELEMENTS = {
    "svg",
    "g",
    "title",
    "path",
    "polygon",
    "polyline",
    "ellipse",
    "circle",
    "rect",
    "line",
    "text",
    "a",
}
ATTRIBUTES = {
    "width",
    "height",
    "viewBox",
    "transform",
    "class",
    "id",
    "fill",
    "stroke",
    "stroke-width",
    "stroke-dasharray",
    "stroke-opacity",
    "fill-opacity",
    "d",
    "points",
    "cx",
    "cy",
    "rx",
    "ry",
    "r",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "text-anchor",
    f"{{{XLINK_NS}}}title",
}
MAX_CHARS = 8_000_000


def sanitize(svg: str) -> str | None:
    """The SVG rebuilt from allowed parts only; None when it does not parse as SVG."""
    if not svg or len(svg) > MAX_CHARS or "<!" in svg.replace("<!--", ""):
        return None  # no DOCTYPE or entity declarations (entity expansion)
    try:
        root = ET.fromstring(svg)  # noqa: S314 - no DOCTYPE or entity gets this far
    except ET.ParseError:
        return None
    if _local(root.tag) != "svg":
        return None
    clean = _copy(root)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    return ET.tostring(clean, encoding="unicode")


def _copy(element: ET.Element) -> ET.Element:
    out = ET.Element(f"{{{SVG_NS}}}{_local(element.tag)}")
    for name, value in element.attrib.items():
        if name in ATTRIBUTES and "url(" not in value.lower():
            out.set(name, value)
    out.text = element.text
    out.tail = element.tail
    for child in element:
        if isinstance(child.tag, str) and _local(child.tag) in ELEMENTS:
            out.append(_copy(child))
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""

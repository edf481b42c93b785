"""Exports to the tools MSPs document in: draw.io (mxGraph XML), GraphML and dot.

Built with xml.etree, so every name a device reported is escaped as XML data.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agent.topology.draw import CHANGE_COLOR, FILL, REMOVED, layout, to_dot
from agent.topology.graph import Edge, Node

_DRAWIO_SHAPE = {
    "router": "ellipse;",
    "firewall": "shape=hexagon;perimeter=hexagonPerimeter2;",
    "hosts": "shape=folder;tabWidth=40;tabHeight=10;",
    "subnet": "shape=note;",
}


def to_drawio(nodes: list[Node], edges: list[Edge]) -> str:
    boxes = layout(nodes, edges)
    mxfile = ET.Element("mxfile", host="keyturn", type="device")
    diagram = ET.SubElement(mxfile, "diagram", id="topology", name="Network")
    model = ET.SubElement(
        diagram, "mxGraphModel", grid="1", gridSize="10", guides="1", page="0", math="0", shadow="0"
    )
    root = ET.SubElement(model, "root")
    ET.SubElement(root, "mxCell", id="0")
    ET.SubElement(root, "mxCell", id="1", parent="0")
    ids = {}
    for i, node in enumerate(nodes):
        ids[node.id] = f"n{i}"
        box = boxes.get(node.id)
        style = (
            _DRAWIO_SHAPE.get(node.kind, "rounded=1;") + "whiteSpace=wrap;html=0;"
            f"fillColor={FILL.get(node.kind, FILL['switch'])};"
        )
        if node.change:
            style += f"strokeColor={CHANGE_COLOR[node.change]};strokeWidth=3;"
        value = "\n".join([node.label, *node.detail[:1]]) if node.kind != "hosts" else node.label
        cell = ET.SubElement(
            root, "mxCell", id=ids[node.id], value=value, style=style, vertex="1", parent="1"
        )
        if node.detail:
            cell.set("tooltip", "\n".join(node.detail)[:4000])
        w, h = (box.w, box.h) if box else (120.0, 50.0)
        x, y = (box.x - w / 2, box.y - h / 2) if box else (0.0, 0.0)
        ET.SubElement(
            cell,
            "mxGeometry",
            x=f"{x:.0f}",
            y=f"{y:.0f}",
            width=f"{w:.0f}",
            height=f"{h:.0f}",
            **{"as": "geometry"},
        )
    for i, edge in enumerate(edges):
        if edge.a not in ids or edge.b not in ids:
            continue
        style = "endArrow=none;html=0;"
        if edge.kind == "inferred" or edge.change == REMOVED:
            style += "dashed=1;"
        if edge.kind == "gateway":
            style += "dashed=1;dashPattern=1 3;"
        if edge.change:
            style += f"strokeColor={CHANGE_COLOR[edge.change]};strokeWidth=3;"
        label = " - ".join(p for p in (edge.a_label, edge.b_label) if p) or edge.label
        cell = ET.SubElement(
            root,
            "mxCell",
            id=f"e{i}",
            value=label,
            style=style,
            edge="1",
            parent="1",
            source=ids[edge.a],
            target=ids[edge.b],
        )
        ET.SubElement(cell, "mxGeometry", relative="1", **{"as": "geometry"})
    return ET.tostring(mxfile, encoding="unicode", xml_declaration=False) + "\n"


def to_graphml(nodes: list[Node], edges: list[Edge]) -> str:
    ns = "http://graphml.graphdrawing.org/xmlns"
    ET.register_namespace("", ns)
    graphml = ET.Element(f"{{{ns}}}graphml")
    keys = [
        ("label", "node"),
        ("kind", "node"),
        ("detail", "node"),
        ("change", "node"),
        ("kind", "edge"),
        ("a_port", "edge"),
        ("b_port", "edge"),
        ("label", "edge"),
        ("change", "edge"),
    ]
    for name, target in keys:
        ET.SubElement(
            graphml,
            f"{{{ns}}}key",
            id=f"{target}_{name}",
            **{"for": target, "attr.name": name, "attr.type": "string"},
        )
    graph = ET.SubElement(graphml, f"{{{ns}}}graph", id="topology", edgedefault="undirected")
    known = set()
    for node in nodes:
        known.add(node.id)
        element = ET.SubElement(graph, f"{{{ns}}}node", id=node.id)
        for key, value in (
            ("label", node.label),
            ("kind", node.kind),
            ("detail", "\n".join(node.detail)),
            ("change", node.change),
        ):
            ET.SubElement(element, f"{{{ns}}}data", key=f"node_{key}").text = value
    for i, edge in enumerate(edges):
        if edge.a not in known or edge.b not in known:
            continue
        element = ET.SubElement(graph, f"{{{ns}}}edge", id=f"e{i}", source=edge.a, target=edge.b)
        for key, value in (
            ("kind", edge.kind),
            ("a_port", edge.a_label),
            ("b_port", edge.b_label),
            ("label", edge.label),
            ("change", edge.change),
        ):
            ET.SubElement(element, f"{{{ns}}}data", key=f"edge_{key}").text = value
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(graphml, encoding="unicode")


EXPORTERS = {"drawio": to_drawio, "graphml": to_graphml, "dot": to_dot}
